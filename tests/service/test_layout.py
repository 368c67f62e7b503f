# The layout rules of issue 11, read from the source tree: the drivers are
# siblings (no driver includes another driver's header), neither service/
# nor drivers/driver.h names a hypervisor (the registry in
# drivers/driver-registry.* does), and service/ has one errno → bus error
# function (bus_error_from_errno in bus-util.c).

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'integration'))

from vmgmt_harness import SOURCE_ROOT, main  # noqa: E402

DRIVERS = ('qemu', 'network', 'storage')
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def sources(directory):
    for dirpath, _, names in os.walk(os.path.join(SOURCE_ROOT, directory)):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                p = os.path.join(dirpath, n)
                with open(p, errors='replace') as f:
                    yield os.path.relpath(p, SOURCE_ROOT), f.read()


class Layout(unittest.TestCase):
    def test_drivers_are_siblings(self):
        headers = {d: {n for n in os.listdir(os.path.join(SOURCE_ROOT, 'drivers', d)) if n.endswith('.h')}
                   for d in DRIVERS}
        for d in DRIVERS:
            for path, text in sources(os.path.join('drivers', d)):
                for inc in INCLUDE.findall(text):
                    for other in DRIVERS:
                        if other != d:
                            self.assertNotIn(os.path.basename(inc), headers[other],
                                             '%s includes %s of drivers/%s' % (path, inc, other))

    def test_service_names_no_hypervisor(self):
        files = list(sources('service')) + [('drivers/driver.h', open(os.path.join(SOURCE_ROOT, 'drivers',
                                                                                 'driver.h')).read())]
        for path, text in files:
            for i, line in enumerate(text.splitlines(), 1):
                self.assertNotRegex(line.lower(), r'qemu', '%s:%d names a hypervisor: %s' % (path, i, line))

    def test_one_errno_to_bus_error_function(self):
        found = []
        for path, text in sources('service'):
            for m in re.finditer(r'^[a-z][^;(]*\b(\w*errno\w*)\s*\([^;]*\)\s*\{', text, re.M):
                found.append('%s: %s' % (path, m.group(1)))
        # the one function and its table
        self.assertEqual(sorted(found), ['service/bus-util.c: bus_error_from_errno',
                                         'service/bus-util.c: bus_error_name_from_errno'], found)


if __name__ == '__main__':
    main()
