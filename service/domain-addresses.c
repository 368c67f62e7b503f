/* domain-addresses.c — Domain.GetInterfaceAddresses (virsh domifaddr): the IP addresses of a running
 * domain's interfaces, from its networks' DHCP leases, the host's neighbour tables, or its guest agent.
 * A read: no polkit, as GetXML. */
#include <errno.h>
#include <strings.h>
#include <sys/socket.h>

#include "bus-util.h"
#include "domain-stats.h"
#include "domain.h"
#include "log.h"
#include "network-driver.h"
#include "network-neigh.h"
#include "network.h"

#define AGENT_TIMEOUT_MS_DEFAULT 10000u

/* One address entry of the reply. */
static int append_addr(sd_bus_message *m, const char *name, const char *hwaddr, const char *type, const char *addr,
                       uint32_t prefix) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "name", "s", strempty(name));
        if (r >= 0 && hwaddr)
                r = sd_bus_message_append(m, "{sv}", "hwaddr", "s", hwaddr);
        if (r >= 0 && type && addr) {
                r = sd_bus_message_append(m, "{sv}{sv}{sv}", "type", "s", type, "address", "s", addr, "prefix", "u",
                                          prefix);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static const char *nic_name(const DomainNetDef *nic) {
        return nic->target_dev ?: "-";
}

/* source lease: the DHCP leases of each <interface type='network'>'s network for the NIC's MAC. */
static int append_leases(sd_bus_message *reply, Manager *m, const DomainDef *def) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < def->n_nets; i++) {
                const DomainNetDef *nic = &def->nets[i];
                NetworkLease *leases = NULL;
                VmNetwork *n;
                size_t k = 0;

                if (nic->type != DOMAIN_NET_TYPE_NETWORK || !nic->source_network || !nic->mac)
                        continue;
                n = vm_network_find(m->networks, nic->source_network);
                if (!n || !n->rt || n->starting || network_runtime_leases(n->rt, &leases, &k) < 0)
                        continue;   /* no network, no leases: no addresses to tell */
                for (size_t j = 0; r >= 0 && j < k; j++)
                        if (leases[j].mac && strcasecmp(leases[j].mac, nic->mac) == 0 && leases[j].ip)
                                r = append_addr(reply, nic_name(nic), nic->mac, network_lease_type(&leases[j]),
                                                leases[j].ip, leases[j].prefix);
                network_leases_free(leases, k);
        }
        return r;
}

/* source arp: the neighbour entries (ARP, NDP) of this host behind each NIC's MAC. */
static int append_neighbours(sd_bus_message *reply, const DomainDef *def, sd_bus_error *error) {
        NetworkNeighbour *v = NULL;
        size_t n = 0;
        int r;

        r = network_neighbours(&v, &n);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to read the neighbour table: %m");
        for (size_t i = 0; r >= 0 && i < def->n_nets; i++) {
                const DomainNetDef *nic = &def->nets[i];

                for (size_t j = 0; r >= 0 && nic->mac && j < n; j++)
                        if (strcasecmp(v[j].mac, nic->mac) == 0)
                                r = append_addr(reply, nic_name(nic), nic->mac, v[j].family == AF_INET6 ? "ipv6" : "ipv4",
                                                v[j].ip, 0);
        }
        free(v);
        return r;
}

typedef struct AgentCall {
        sd_bus_message *message;
        VmDomain *domain;
} AgentCall;

static void on_agent_answer(void *userdata, int r, const DriverIfAddr *addrs, size_t n, const char *message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        AgentCall *c = userdata;

        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to ask the guest agent of domain '%s'",
                                                            c->domain->name);
                if (r == -ETIMEDOUT)
                        sd_bus_error_setf(&error, VM_ERROR_OPERATION_FAILED, "%s: %s", what, strempty(message));
                else
                        (void) bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(c->message, &error);
        } else {
                r = sd_bus_message_new_method_return(c->message, &reply);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
                for (size_t i = 0; r >= 0 && i < n; i++)
                        r = append_addr(reply, addrs[i].name, addrs[i].hwaddr, addrs[i].type, addrs[i].addr,
                                        addrs[i].prefix);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_send(NULL, reply, NULL);
                if (r < 0)
                        (void) sd_bus_reply_method_errorf(c->message, VM_ERROR_OPERATION_FAILED,
                                                          "Failed to answer for domain '%s'", c->domain->name);
        }
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c);
}

static int ask_agent(sd_bus_message *message, VmDomain *d, uint32_t timeout_ms, sd_bus_error *error) {
        AgentCall *c;
        int r;

        if (!d->drv->ops->agent_interfaces)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver has no guest agent",
                                         d->drv->ops->name);
        c = g_new0(AgentCall, 1);
        c->message = sd_bus_message_ref(message);
        c->domain = vm_domain_ref(d);
        r = d->drv->ops->agent_interfaces(d->rt, (uint64_t) timeout_ms * 1000u, on_agent_answer, c);
        if (r >= 0)
                return 1;
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c);
        if (r == -ENODEV)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Domain '%s' has no guest agent channel",
                                         d->name);
        if (r == -EOPNOTSUPP)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "The guest agent channel of domain '%s' connects out (mode='connect'): "
                                         "vmgmtd cannot reach it", d->name);
        {
                _cleanup_free_ char *what = g_strdup_printf("Failed to reach the guest agent of domain '%s'", d->name);
                return bus_error_from_errno(error, r, strerror(-r), what);
        }
}

int vm_domain_method_get_interface_addresses(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        VmDomain *d = userdata;
        const char *source = "lease";
        uint32_t timeout_ms = AGENT_TIMEOUT_MS_DEFAULT;
        const BusOption options[] = { { "source", "s", &source }, { "timeout_ms", "u", &timeout_ms }, {} };
        const DomainDef *def;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (!STR_IN_SET(source, "lease", "arp", "agent"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown address source '%s' (lease, arp, agent)", source);
        if (!vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (streq(source, "agent"))
                return ask_agent(message, d, timeout_ms, error);
        def = vm_domain_current_def(d);
        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r >= 0)
                r = streq(source, "lease") ? append_leases(reply, d->manager, def) : append_neighbours(reply, def, error);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
