/*
 * core/privsep_msg.c: what the privileged process reads from the front end
 * (core/privsep.h). The input is one request as it travels: struct ps_hdr,
 * then the body. The header check and the body check run as the privileged
 * loop runs them (the body copied into its own allocation, as ps_recv
 * gives it). What they accept must keep the properties the privileged side
 * relies on: a known type; an array body a whole number of elements; a
 * link name terminated in its field; an nftables batch whose every message
 * is nf_tables, family inet, naming table "vrouter".
 */
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "privsep.h"
#include "sgc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_hdr h;
	char why[512];
	void *body;
	size_t blen;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	if (ps_check_hdr(&h, why, sizeof(why)))
		return 0;
	FUZZ_CHECK(h.type && h.type < PS_TYPE_END, "type %u accepted", h.type);
	blen = size - sizeof(h);
	if (blen != h.len) /* ps_recv reads exactly h.len bytes; a short one is refused there */
		return 0;
	body = malloc(blen ? blen : 1);
	if (!body)
		return 0;
	memcpy(body, data + sizeof(h), blen);
	if (ps_check_body(h.type, body, blen, why, sizeof(why)) == 0) {
		if (h.type == PS_LINK_INDEX)
			FUZZ_CHECK(memchr(body, '\0', sizeof(struct ps_name)), "unterminated name");
		if (h.type == PS_ROUTE_APPLY)
			FUZZ_CHECK(blen % sizeof(struct kroute_op) == 0, "%zu bytes", blen);
		if (h.type == PS_NFT_SEND) {
			const char *p = (const char *)body + sizeof(struct ps_nft_send);
			size_t left = blen - sizeof(struct ps_nft_send);

			while (left >= NLMSG_HDRLEN) {
				const struct nlmsghdr *m = (const void *)p;
				size_t step = NLMSG_ALIGN(m->nlmsg_len);

				FUZZ_CHECK(m->nlmsg_len >= NLMSG_HDRLEN && m->nlmsg_len <= left,
				           "message of %u bytes in %zu", m->nlmsg_len, left);
				if (m->nlmsg_type != NFNL_MSG_BATCH_BEGIN &&
				    m->nlmsg_type != NFNL_MSG_BATCH_END) {
					const struct nfgenmsg *g = (const void *)(p + NLMSG_HDRLEN);

					FUZZ_CHECK(NFNL_SUBSYS_ID(m->nlmsg_type) ==
					               NFNL_SUBSYS_NFTABLES,
					           "type 0x%x", m->nlmsg_type);
					FUZZ_CHECK(g->nfgen_family == NFPROTO_INET, "family %u",
					           g->nfgen_family);
					FUZZ_CHECK(
					    memmem(m, m->nlmsg_len, SGC_TABLE, sizeof(SGC_TABLE)),
					    "no table name");
				}
				if (step > left)
					step = left;
				p += step;
				left -= step;
			}
		}
	}
	free(body);
	return 0;
}
