/*
 * Packet sockets for bounded captures (kernel_ops.capture_open). The socket
 * is made with protocol 0, so it receives nothing at all until it is bound;
 * the filter is attached while it is still deaf, and only then is it bound
 * to the link with ETH_P_ALL. No packet that the filter would refuse is ever
 * queued on it. Each packet carries its receive time (SO_TIMESTAMPNS).
 */
#include "nl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

int nl_packet_open(int ifindex, const struct sock_filter *prog, size_t len)
{
	struct sock_fprog fprog = {.len = (unsigned short)len,
	                           .filter = (struct sock_filter *)(uintptr_t)prog};
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex};
	int one = 1, fd, err;

	if (ifindex <= 0 || !prog || len == 0 || len > BPF_MAXINSNS)
		return -EINVAL;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
