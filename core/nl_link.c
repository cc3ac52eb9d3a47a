/*
 * Links and IP forwarding: the list of links (netlink, over the transport),
 * interface names, and the namespace's forwarding switches (sysctl files),
 * with the value last read or written so that a netconf notification can
 * tell our own write from someone else's.
 */
#include "nl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netconf.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "log.h"

/* From linux/if.h, which cannot be included beside net/if.h. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif
#define NLLK_IF_OPER_UP 6
#define NLLK_LINKS_MAX (256u * 1024)
/* A sysctl value as text: "0\n", "1\n". */
#define NLLK_SYSCTL_MAX 32

static const char *const fwd_path[2] = {
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv6/conf/all/forwarding",
};

struct nl_link {
	/* Forwarding (IPv4, IPv6) as last read or written: 0, 1, or -1 unknown. */
	int fwd_known[2];
};

int nl_link_new(struct nl_link **out)
{
	struct nl_link *l = malloc(sizeof(*l));

	*out = l;
	if (!l)
		return -ENOMEM;
	l->fwd_known[0] = l->fwd_known[1] = -1;
	return 0;
}

void nl_link_free(struct nl_link *l)
{
	free(l);
}

int nl_link_index(const char *name)
{
	/* The process lives in the namespace it manages: the libc lookup sees the same links. */
	return (int)if_nametoindex(name);
}

static int sysctl_read(const char *path, int *v)
{
	char buf[NLLK_SYSCTL_MAX], *end;
	ssize_t n;
	long val;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		err = -errno;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	val = strtol(buf, &end, 10);
	if (end == buf)
		return -EINVAL;
	*v = val != 0;
	return 0;
}

static int sysctl_write(const char *path, int v)
{
	const char *s = v ? "1\n" : "0\n";
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, 2);
	if (n < 0)
		err = -errno;
	else if (n != 2)
		err = -EIO;
	close(fd);
	return err;
}

int nl_link_forwarding_get(struct nl_link *l, bool *v4, bool *v6)
{
	int val[2] = {0, 0}, err;

	for (int f = 0; f < 2; f++) {
		err = sysctl_read(fwd_path[f], &val[f]);
		/* A kernel without IPv6 forwards no IPv6. */
		if (err == -ENOENT && f == 1) {
			val[f] = 0;
			err = 0;
		}
		if (err) {
			errno = -err;
			log_warn("reading %s", fwd_path[f]);
			return err;
		}
		l->fwd_known[f] = val[f];
	}
	*v4 = val[0];
	*v6 = val[1];
	return 0;
}

int nl_link_forwarding_of(int ifindex, int family, bool *on)
{
	char name[IF_NAMESIZE], path[128];
	int v = 0, err;

	if (ifindex <= 0 || !if_indextoname((unsigned)ifindex, name))
		return -ENODEV;
	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding",
	         family == AF_INET6 ? "ipv6" : "ipv4", name);
	err = sysctl_read(path, &v);
	*on = v;
	return err;
}

int nl_link_forwarding_set(struct nl_link *l, bool v4, bool v6)
{
	const int want[2] = {v4, v6};

	for (int f = 0; f < 2; f++) {
		int cur = 0, err = sysctl_read(fwd_path[f], &cur);

		if (err == -ENOENT && f == 1)
			return want[f] ? -EAFNOSUPPORT : 0;
		/*
		 * Remember the value before writing it, so the notification
		 * that the write causes is known as ours.
		 */
		if (!err && cur != want[f]) {
			l->fwd_known[f] = want[f];
			err = sysctl_write(fwd_path[f], want[f]);
		}
		if (err) {
			l->fwd_known[f] = -1;
			errno = -err;
			log_warn("setting %s to %d", fwd_path[f], want[f]);
			return err;
		}
		l->fwd_known[f] = want[f];
	}
	return 0;
}

struct link_acc {
	struct klink *v;
	size_t n, cap;
};

static int link_cb(struct nlmsghdr *h, void *arg)
{
	struct link_acc *acc = arg;
	struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi;
	struct klink *l;
	int err;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	ifi = nl_data(h);
	if (nlmsg_parse(h, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return 0;
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLLK_LINKS_MAX,
	                    "links");
	if (err)
		return err;
	l = &acc->v[acc->n++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->lower_up = (ifi->ifi_flags & IFF_LOWER_UP) ||
	              (tb[IFLA_OPERSTATE] && nla_get_u8(tb[IFLA_OPERSTATE]) == NLLK_IF_OPER_UP);
	if (tb[IFLA_IFNAME])
		nla_strlcpy(l->name, tb[IFLA_IFNAME], sizeof(l->name));
	if (tb[IFLA_MTU])
		l->mtu = nla_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == 6) {
		const uint8_t *m = nla_data(tb[IFLA_ADDRESS]);

		snprintf(l->mac, sizeof(l->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		         m[3], m[4], m[5]);
	}
	return 0;
}

static int klink_qcmp(const void *pa, const void *pb)
{
	const struct klink *a = pa, *b = pb;

	return (a->ifindex > b->ifindex) - (a->ifindex < b->ifindex);
}

int nl_link_dump(struct nl_xport *x, struct klink **out, size_t *nout)
{
	const struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	static const int unspec[] = {AF_UNSPEC};
	struct link_acc acc = {0};
	const struct nl_xport_dump d = {
	    .type = RTM_GETLINK,
	    .hdr = &ifi,
	    .hlen = sizeof(ifi),
	    .families = unspec,
	    .nfamilies = 1,
	    .what = "link",
	    .cb = link_cb,
	    .arg = &acc,
	    .count = &acc.n,
	};
	int err;

	*out = NULL;
	*nout = 0;
	err = nl_xport_dump(x, &d);
	if (err) {
		kernel_links_free(acc.v, acc.n);
		return err;
	}
	qsort(acc.v, acc.n, sizeof(*acc.v), klink_qcmp);
	*out = acc.v;
	*nout = acc.n;
	return 0;
}

static struct klink *find_link(struct klink *v, size_t n, int ifindex)
{
	struct klink key = {.ifindex = ifindex};

	return bsearch(&key, v, n, sizeof(*v), klink_qcmp);
}

int nl_link_attach(struct klink *v, size_t n, const struct kaddr *addrs, size_t naddrs)
{
	/* Count, allocate, fill: addresses keep the kernel's order within a link. */
	for (size_t i = 0; i < naddrs; i++) {
		struct klink *l = find_link(v, n, addrs[i].ifindex);

		if (l)
			l->naddrs++;
	}
	for (size_t i = 0; i < n; i++) {
		if (!v[i].naddrs)
			continue;
		v[i].addrs = malloc(v[i].naddrs * sizeof(*v[i].addrs));
		if (!v[i].addrs)
			return -ENOMEM;
		v[i].naddrs = 0;
	}
	for (size_t i = 0; i < naddrs; i++) {
		struct klink *l = find_link(v, n, addrs[i].ifindex);

		if (l)
			l->addrs[l->naddrs++] = addrs[i].p;
	}
	return 0;
}

void kernel_links_free(struct klink *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].addrs);
	free(v);
}

/*
 * Only the namespace-wide value (NETCONFA_IFINDEX_ALL) is desired state. Our
 * own writes notify with the value we remembered before writing; so does
 * every link, one message each, which we ignore like any per-link setting.
 */
static bool netconf_resync(const struct nl_link *l, const struct nlmsghdr *h)
{
	struct nlattr *tb[NETCONFA_MAX + 1];
	const struct netconfmsg *ncm;
	int f, v;

	if (h->nlmsg_type != RTM_NEWNETCONF || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ncm)))
		return false;
	ncm = nl_data(h);
	if (ncm->ncm_family == AF_INET)
		f = 0;
	else if (ncm->ncm_family == AF_INET6)
		f = 1;
	else
		return false;
	if (nl_xport_parse(h, sizeof(*ncm), tb, NETCONFA_MAX) < 0)
		return true;
	if (!tb[NETCONFA_IFINDEX] || !tb[NETCONFA_FORWARDING] ||
	    (int32_t)nla_get_u32(tb[NETCONFA_IFINDEX]) != NETCONFA_IFINDEX_ALL)
		return false;
	v = nla_get_u32(tb[NETCONFA_FORWARDING]) != 0;
	return l->fwd_known[f] != v;
}

bool nl_link_event(const struct nl_link *l, const struct nlmsghdr *h, bool *resync)
{
	switch (h->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: *resync = true; return true;
	case RTM_NEWNETCONF:
	case RTM_DELNETCONF: *resync = netconf_resync(l, h); return true;
	default: return false;
	}
}
