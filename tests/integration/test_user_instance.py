# vmgmtd --user: the per-user instance owns org.vmgmt on a session bus (like
# libvirt's qemu:///session) and serves the same API.

from vmgmt_harness import VmgmtTestCase, main, minimal_domain_xml, opts


class UserInstance(VmgmtTestCase):
    def setUp(self):
        from vmgmt_harness import Fixture
        self.fx = Fixture(self.daemon_args, session=True)
        self.addCleanup(self._teardown_fixture, self.fx)
        self.addCleanup(self._check_daemon, self.fx)

    def test_session_bus_lifecycle(self):
        path = self.define(minimal_domain_xml('mine'))
        self.rec.wait_domain_event(path, 'defined', 'added')
        self.dom(path).Start(opts())
        self.assertEqual(self.client.wait_state(path, 'running'), ('running', 'booted'))
        self.dom(path).Destroy(opts())
        self.client.wait_state(path, 'shutoff')
        self.assertEqual(self.client.list_domains(), [path])
        self.daemon.restart()
        self.assertEqual(self.client.list_domains(), [path])


if __name__ == '__main__':
    main()
