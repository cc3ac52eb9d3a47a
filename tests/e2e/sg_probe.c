/*
 * Drives the security-group compiler (core/sgc_*.c) and the nftables adapter
 * (core/nft.c) against a real kernel. Run it only inside a throwaway network
 * namespace (it refuses the root namespace's nftables):
 *
 *   ip netns exec NS sg_probe apply [--api-port P] [--flags F] SPEC...
 *   ip netns exec NS sg_probe update A... -- B...  # apply A, then the incremental batch A -> B
 *   ip netns exec NS sg_probe stale A... -- B... -- C...  # apply A, send B -> C: must be
 *                                               # refused and leave A in place
 *   ip netns exec NS sg_probe badflags A... -- B...  # apply A, then B with invalid table
 *                                               # flags: must be refused, A stays
 *   ip netns exec NS sg_probe hold SPEC...      # apply, print "held", wait to be killed
 *   ip netns exec NS sg_probe check SPEC...     # exit 0 when the kernel holds exactly SPEC
 *   ip netns exec NS sg_probe selfwatch SPEC... # apply; our own change must not be reported
 *   ip netns exec NS sg_probe probe | delete | watch SECONDS
 *   sg_probe dump SPEC...                       # the compiled table, no kernel
 *
 * SPEC is one group or rule:
 *   g:ID:TARGET,TARGET...                 e.g. g:sg-a:192.168.100.2,local
 *   r:ID:GROUP:in|eg:PROTO:PORTS:PEER      e.g. r:sgr-1:sg-a:in:tcp:22:192.168.150.0/24
 * PORTS is "-" (all), "N" or "N-M"; PEER is a CIDR or a group id.
 * The API socket kept open by `local` guards is 0.0.0.0:8080 (--api-port P: 0.0.0.0:P).
 * Exit status: 0 done, 1 check differs, 2 the kernel refused, 3 usage or other error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nft.h"
#include "sgc.h"

#define SPECS_MAX 20000

struct state {
	struct security_group g[SPECS_MAX];
	size_t ng;
	struct sg_rule r[SPECS_MAX];
	size_t nr;
};

static uint16_t api_port = 8080;
static uint32_t table_flags = SGC_TABLE_FLAGS;

static void usage(void)
{
	fprintf(stderr, "usage: sg_probe apply|hold|check|dump SPEC... | update OLD... -- NEW... | "
	                "probe | delete | watch SECONDS\n");
	exit(3);
}

/* Refuse to touch the nftables of the machine's own namespace. */
static void require_netns(void)
{
	struct stat a, b;

	if (stat("/proc/1/ns/net", &a) == 0 && stat("/proc/self/ns/net", &b) == 0 &&
	    a.st_ino == b.st_ino) {
		fprintf(stderr, "sg_probe: refusing to run in the root network namespace\n");
		exit(3);
	}
}

static int parse_group(struct security_group *g, char *s)
{
	char *id = s, *targets = strchr(s, ':'), *t;

	memset(g, 0, sizeof(*g));
	if (!targets)
		return -1;
	*targets++ = '\0';
	snprintf(g->id, sizeof(g->id), "%s", id);
	g->targets = calloc(SG_TARGETS_MAX, sizeof(*g->targets));
	for (t = targets ? strtok(targets, ",") : NULL; t; t = strtok(NULL, ",")) {
		struct sg_target *tg;

		if (g->ntargets == SG_TARGETS_MAX) {
			fprintf(stderr, "sg_probe: group %s: more than %d targets\n", id,
			        SG_TARGETS_MAX);
			exit(2);
		}
		tg = &g->targets[g->ntargets++];

		snprintf(tg->text, sizeof(tg->text), "%s", t);
		if (!strcmp(t, "local"))
			tg->local = true;
		else if (cidr_parse_prefix(t, true, &tg->p))
			return -1;
	}
	return 0;
}

static int parse_rule(struct sg_rule *r, char *s)
{
	char *f[6];
	static const char *protos[] = {"tcp", "udp", "icmp", "icmpv6", "all"};

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 6; i++)
		if (!(f[i] = strsep(&s, ":")))
			return -1;
	snprintf(r->id, sizeof(r->id), "%s", f[0]);
	snprintf(r->group_id, sizeof(r->group_id), "%s", f[1]);
	r->direction = !strcmp(f[2], "eg") ? SG_EGRESS : SG_INGRESS;
	r->protocol = SG_PROTO_ALL;
	for (int i = 0; i < 5; i++)
		if (!strcmp(f[3], protos[i]))
			r->protocol = (enum sg_protocol)i;
	if (strcmp(f[4], "-")) {
		char *dash = strchr(f[4], '-');

		r->has_ports = true;
		r->port_from = (uint16_t)atoi(f[4]);
		r->port_to = dash ? (uint16_t)atoi(dash + 1) : r->port_from;
	}
	/* Whatever follows the 5th colon is the peer (IPv6 CIDRs have colons). */
	if (s)
		f[5][strlen(f[5])] = ':';
	if (!strncmp(f[5], "sg-", 3)) {
		snprintf(r->remote_group_id, sizeof(r->remote_group_id), "%s", f[5]);
	} else {
		snprintf(r->cidr_text, sizeof(r->cidr_text), "%s", f[5]);
		if (cidr_parse_prefix(f[5], true, &r->cidr))
			return -1;
	}
	return 0;
}

/* Parse specs from argv[*i] up to the end or "--"; options may come first. */
static void parse_state(struct state *st, int argc, char **argv, int *i)
{
	memset(st, 0, sizeof(*st));
	for (; *i < argc && strcmp(argv[*i], "--"); (*i)++) {
		char *a = strdup(argv[*i]);
		int rc = -1;

		if (!strcmp(a, "--api-port") && *i + 1 < argc) {
			api_port = (uint16_t)atoi(argv[++*i]);
			free(a);
			continue;
		}
		if (!strcmp(a, "--flags") && *i + 1 < argc) {
			table_flags = (uint32_t)strtoul(argv[++*i], NULL, 0);
			free(a);
			continue;
		}
		if (!strncmp(a, "g:", 2) && st->ng < SPECS_MAX)
			rc = parse_group(&st->g[st->ng++], a + 2);
		else if (!strncmp(a, "r:", 2) && st->nr < SPECS_MAX)
			rc = parse_rule(&st->r[st->nr++], a + 2);
		if (rc) {
			fprintf(stderr, "sg_probe: bad spec \"%s\"\n", argv[*i]);
			exit(3);
		}
		free(a);
	}
}

static struct sgc *compile(const struct state *st)
{
	struct sgc_input in = {.groups = st->g,
	                       .ngroups = st->ng,
	                       .rules = st->r,
	                       .nrules = st->nr,
	                       .api = {.port = api_port},
	                       .table_flags = table_flags};
	char why[256];
	struct sgc *c;

	if (cidr_parse_addr("0.0.0.0", &in.api.addr))
		abort();
	if (sgc_compile(&in, &c, why, sizeof(why))) {
		fprintf(stderr, "sg_probe: %s\n", why);
		exit(3);
	}
	return c;
}

static struct nft *open_nft(void)
{
	char why[NFT_WHY_MAX];
	struct nft *n;

	require_netns();
	if (nft_open(&n, why, sizeof(why))) {
		fprintf(stderr, "sg_probe: %s\n", why);
		exit(3);
	}
	return n;
}

static void print_batch(const struct sgc_batch *b)
{
	printf("batch: %zu message(s), %s%s\n", sgc_batch_nmsgs(b),
	       sgc_batch_is_full(b) ? "full rebuild" : "incremental",
	       sgc_batch_elements_only(b) ? ", elements only" : "");
	for (size_t i = 1; i <= sgc_batch_nmsgs(b); i++)
		printf("  %zu %s\n", i, sgc_batch_msg_what(b, i));
}

/* Send b; 0, or 2 with the reason printed. */
static int send(struct nft *n, const struct sgc_batch *b)
{
	char why[NFT_WHY_MAX];
	size_t failed;
	struct timespec t0, t1;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = nft_send(n, b, &failed, why, sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc) {
		printf("refused: message %zu: %s\n", failed, why);
		return 2;
	}
	printf("applied in %.1f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

static int check(struct nft *n, const struct sgc *c)
{
	char why[NFT_WHY_MAX];
	int rc = nft_table_check(n, c, why, sizeof(why));

	if (rc < 0) {
		printf("check failed: %s\n", why);
		return 3;
	}
	printf("check: %s\n", rc ? why : "kernel holds exactly the compiled table");
	return rc;
}

static void state_free(struct state *s)
{
	if (!s)
		return;
	for (size_t k = 0; k < s->ng; k++)
		free(s->g[k].targets);
	free(s);
}

int main(int argc, char **argv)
{
	struct state *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)), *c3 = NULL;
	struct sgc_batch *bt = NULL;
	struct sgc *ca = NULL, *cb = NULL, *cc = NULL;
	struct nft *n = NULL;
	int i = 2, rc = 0;
	const char *cmd;

	if (argc < 2 || !a || !b)
		usage();
	cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "dump")) {
		parse_state(a, argc, argv, &i);
		ca = compile(a);
		sgc_dump(ca, stdout);
		goto out;
	}
	n = open_nft();
	if (!strcmp(cmd, "apply") || !strcmp(cmd, "hold")) {
		parse_state(a, argc, argv, &i);
		ca = compile(a);
		if (sgc_batch_full(ca, &bt)) {
			rc = 3;
			goto out;
		}
		print_batch(bt);
		rc = send(n, bt);
		if (!rc)
			rc = check(n, ca);
		if (!rc && !strcmp(cmd, "hold")) {
			printf("held\n");
			for (;;)
				pause();
		}
	} else if (!strcmp(cmd, "update") || !strcmp(cmd, "stale") || !strcmp(cmd, "badflags")) {
		struct sgc *from, *to;

		parse_state(a, argc, argv, &i);
		if (i++ >= argc)
			usage();
		ca = compile(a);
		if (sgc_batch_full(ca, &bt)) {
			rc = 3;
			goto out;
		}
		printf("first: ");
		rc = send(n, bt);
		sgc_batch_free(bt);
		bt = NULL;
		if (rc)
			goto out;
		parse_state(b, argc, argv, &i);
		if (!strcmp(cmd, "badflags"))
			table_flags = 0x80; /* no such flag: EOPNOTSUPP */
		cb = compile(b);
		from = ca;
		to = cb;
		if (!strcmp(cmd, "stale")) { /* B -> C, while the kernel holds A */
			c3 = calloc(1, sizeof(*c3));
			if (i++ >= argc || !c3)
				usage();
			parse_state(c3, argc, argv, &i);
			from = cb;
			to = cc = compile(c3);
		}
		if (!strcmp(cmd, "badflags") ? sgc_batch_full(to, &bt)
		                             : sgc_batch_update(from, to, &bt)) {
			rc = 3;
			goto out;
		}
		print_batch(bt);
		rc = send(n, bt);
		if (!strcmp(cmd, "update")) {
			if (!rc)
				rc = check(n, cb);
		} else {
			printf("%s\n", rc ? "refused as expected" : "NOT refused");
			rc = rc ? check(n, ca) : 2;
		}
	} else if (!strcmp(cmd, "selfwatch")) { /* our own batches must not look like drift */
		struct pollfd p = {.fd = nft_events_fd(n), .events = POLLIN};

		parse_state(a, argc, argv, &i);
		ca = compile(a);
		if (sgc_batch_full(ca, &bt)) {
			rc = 3;
			goto out;
		}
		rc = send(n, bt);
		if (!rc) {
			bool changed = poll(&p, 1, 500) > 0 && nft_events_drain(n);

			printf("own change %s\n", changed ? "REPORTED as foreign" : "ignored");
			rc = changed;
		}
	} else if (!strcmp(cmd, "check")) {
		parse_state(a, argc, argv, &i);
		ca = compile(a);
		rc = check(n, ca);
	} else if (!strcmp(cmd, "probe")) {
		struct nft_table_info info;
		char why[NFT_WHY_MAX];

		if (nft_table_probe(n, &info, why, sizeof(why))) {
			printf("probe failed: %s\n", why);
			rc = 3;
			goto out;
		}
		printf("exists=%d flags=0x%x owner=%u ours=%d use=%u\n", info.exists, info.flags,
		       info.owner, info.ours, info.use);
	} else if (!strcmp(cmd, "delete")) {
		char why[NFT_WHY_MAX];

		rc = nft_table_delete(n, why, sizeof(why));
		printf("delete: %s\n", rc ? why : "done");
		rc = rc ? 2 : 0;
	} else if (!strcmp(cmd, "watch")) {
		int secs = argc > 2 ? atoi(argv[2]) : 5, seen = 0;
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		printf("watching\n");
		for (;;) {
			struct pollfd p = {.fd = nft_events_fd(n), .events = POLLIN};

			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= secs)
				break;
			if (poll(&p, 1, 100) > 0 && nft_events_drain(n)) {
				printf("changed\n");
				seen++;
			}
		}
		rc = seen ? 0 : 1;
	} else {
		usage();
	}
out:
	sgc_batch_free(bt);
	sgc_free(ca);
	sgc_free(cb);
	sgc_free(cc);
	nft_close(n);
	state_free(a);
	state_free(b);
	state_free(c3);
	return rc;
}
