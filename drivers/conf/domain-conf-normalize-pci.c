/* domain-conf-normalize-pci.c — PCI address assignment (placeholder). */
#include "conf-internal.h"
