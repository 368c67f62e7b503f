# Live migration of a domain with an emulated TPM (<tpm><backend type='emulator'>) between two vmgmtd on
# this machine (migrate_harness.py): B starts a swtpm of its own (manufacturing a state there), qemu's
# migration stream carries the TPM's state to it — a PCR the guest extended on A reads the same on B —
# and A's swtpm ends with A's qemu.
import os
import time

from migrate_harness import ADDR_B, WAIT, MigrateTestCase, opts
from migrate_harness import main  # noqa: F401
from test_tpm import extend_pcr16, read_pcr16, tpm_xml
from vmgmt_harness import _all_pids, _cmdline


def swtpm_pids(root):
    marker = root + '/'
    return sorted(pid for pid in _all_pids()
                  if (argv := _cmdline(pid)) and os.path.basename(argv[0]) == 'swtpm' and any(marker in a for a in argv))


class TpmMigration(MigrateTestCase):
    def wait_gone(self, root):
        deadline = time.monotonic() + WAIT
        while swtpm_pids(root):
            if time.monotonic() > deadline:
                self.fail('swtpm of %s left behind' % root)
            time.sleep(0.1)

    def test_live_migration_carries_the_tpm_state(self):
        path, con = self.boot('mtpm', xml=tpm_xml('mtpm'))
        pcr = extend_pcr16(con)
        self.assertNotEqual(pcr, '0' * 64)
        self.assertEqual(len(swtpm_pids(self.fa.daemon.root)), 1)
        job = str(self.ca.domain(path).Migrate(self.dest(), opts(live=True, persistent=True, listen_address=ADDR_B)))
        p = self.wait_job(self.ca, job)
        self.assertEqual(p['State'], 'completed', p)
        self.ca.wait_state(path, 'shutoff', timeout=WAIT, reason='migrated')
        self.wait_gone(self.fa.daemon.root)
        bpath = self.wait_until(lambda: self.cb.list_domains(), what='the domain on B')[0]
        self.cb.wait_state(bpath, 'running', timeout=WAIT, reason='migrated')
        self.assertEqual(len(swtpm_pids(self.fb.daemon.root)), 1)
        bcon = self.fb.console(bpath)
        self.assertEqual(read_pcr16(bcon), pcr)
        self.cb.domain(bpath).Destroy(opts())
        self.cb.wait_state(bpath, 'shutoff', timeout=WAIT)
        self.wait_gone(self.fb.daemon.root)


if __name__ == '__main__':
    main()
