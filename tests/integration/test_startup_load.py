#!/usr/bin/python3
# Start-up with many definitions: the files are parsed on several threads and
# added in directory order. Every good definition comes back with its UUID,
# Generation and Autostart; a broken file, a second file naming a domain that
# is already loaded and a write a crash interrupted are left out, as before.

import os
import re
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmgmt_harness import VmgmtTestCase, domain_path, minimal_domain_xml, main  # noqa: E402

N = 700     # enough for the loader to use more than one thread (one per 256 files, up to the CPUs)


class StartupLoad(VmgmtTestCase):

    def test_many_definitions_load_in_parallel(self):
        self.define(minimal_domain_xml('load0'))
        self.daemon.stop()
        conf_dir = self.daemon.config_dir
        with open(os.path.join(conf_dir, 'load0.xml')) as f:
            template = f.read()
        uuid0 = re.search(r'<uuid>(.*?)</uuid>', template).group(1)
        body = re.sub(r'^<!-- vmgmt generation \d+ -->\n?', '', template)
        self.assertNotEqual(body, template, 'the stored file has no generation header')
        expected = {}
        for i in range(N):
            name = 'load%d' % i
            u = uuid0 if i == 0 else str(uuidlib.uuid4())
            gen = 1 + i % 7
            text = body.replace('<name>load0</name>', '<name>%s</name>' % name).replace(uuid0, u)
            with open(os.path.join(conf_dir, name + '.xml'), 'w') as f:
                f.write('<!-- vmgmt generation %d -->\n' % gen + text)
            expected[name] = (u, gen, i % 5 == 0)
            if i % 5 == 0:
                os.symlink('../%s.xml' % name, os.path.join(conf_dir, 'autostart', name + '.xml'))
        # left out: not XML, a second file for load1's UUID, a half-written file
        with open(os.path.join(conf_dir, 'broken.xml'), 'w') as f:
            f.write('<domain type="qemu"><name>broken</name>\n')
        dup = body.replace('<name>load0</name>', '<name>dup-of-load1</name>').replace(uuid0, expected['load1'][0])
        with open(os.path.join(conf_dir, 'dup.xml'), 'w') as f:
            f.write(dup)
        tmp_left = os.path.join(conf_dir, 'load2.xml.tmp.123')
        with open(tmp_left, 'w') as f:
            f.write('half')
        with open(os.path.join(self.daemon.root, 'etc', 'vmgmt', 'vmgmtd.conf'), 'w') as f:
            f.write('[daemon]\nautostart=false\n')

        self.daemon.start()
        log = self.daemon.log_text()
        listed = set(self.client.list_domains())
        self.assertNotIn(domain_path('broken'), listed)
        self.assertIn('broken.xml, ignoring', log)
        self.assertFalse(os.path.exists(tmp_left), 'the interrupted write was not removed')
        # one of the two files with load1's UUID won, whichever came first in the directory
        winner = 'load1' if domain_path('load1') in listed else 'dup-of-load1'
        loser = 'dup-of-load1' if winner == 'load1' else 'load1'
        self.assertNotIn(domain_path(loser), listed)
        self.assertIn('names domain', log)
        want = {domain_path(n) for n in expected if n != 'load1'} | {domain_path(winner)}
        self.assertEqual(listed, want)

        objects = self.client.managed_objects()
        for name, (u, gen, autostart) in expected.items():
            if name == 'load1' and winner != 'load1':
                continue
            props = objects[domain_path(name)]['org.vmgmt.Domain']
            self.assertEqual((props['Name'], props['UUID'], props['Generation'], props['Autostart']),
                             (name, u, gen, autostart), name)
            self.assertEqual(props['State'], 'shutoff')
        m = re.findall(r'Loaded (\d+) domain definitions', log)
        self.assertEqual(int(m[-1]), N)


if __name__ == '__main__':
    main()
