/* osinfo-dict.h — libosinfo's objects as the a{sv} entries of Manager.GetOSInfo, ListOSInfo and DetectOSInfo
 * (the keys of osinfo.h's methods, documented in interfaces/org.vmgmt.Manager.xml). Knows no state. */
#pragma once

#include <osinfo/osinfo.h>
#include <systemd/sd-bus.h>

/* Each appends {sv} entries at the current position of reply, inside an
 * a{sv} the caller opened; 0 (or a positive sd-bus result) or a negative errno. */

/* ListOSInfo's keys: id, short_id, name, vendor, version, family, distro, release_date, eol_date. */
int osinfo_dict_append_summary(sd_bus_message *reply, OsinfoOs *os);
/* Every key of GetOSInfo: the summary's, short_ids, minimum/recommended/maximum,
 * virtio, q35, devices, firmware, install_media, install_trees. */
int osinfo_dict_append_os(sd_bus_message *reply, OsinfoOs *os);
/* key → a{sv} of a medium as DetectOSInfo's `media`: volume_id, arch, installer, live. */
int osinfo_dict_append_media(sd_bus_message *reply, const char *key, OsinfoMedia *media);
