// SPDX-License-Identifier: GPL-2.0 OR MIT
/* qkdn qkd show: the QKD link under each KMA link, as its driver
 * (qkdn-qkdd) last reported it to the module. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/qkdn.h>

#include "cli.h"
#include "util.h"
#include "log.h"

struct qkd_info {
	uint32_t id, peer;
	uint8_t state;		/* 0: never reported */
	uint64_t rate, updated;
	uint32_t qber;
	bool has_qber;
	uint64_t generated;
};

struct qkd_list {
	struct qkd_info *v;
	size_t n, cap;
};

static const char *state_name(uint8_t s)
{
	switch (s) {
	case QKDN_QKD_UP: return "up";
	case QKDN_QKD_DOWN: return "down";
	case QKDN_QKD_EAVESDROPPED: return "eavesdropped";
	default: return "unknown";
	}
}

static int qkd_cb(const struct nlmsghdr *nlh, void *data)
{
	struct qkd_list *l = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct qkd_info *qi;
	struct cli_stats st;

	if (!nlh) {
		l->n = 0;
		return 0;
	}
	if (qkdn_nl_parse(nlh, tb, QKDN_A_MAX) < 0 || !tb[QKDN_A_LINK_ID])
		return -EBADMSG;
	qi = qkdn_grow((void **)&l->v, &l->n, &l->cap, sizeof(*qi));
	if (!qi)
		return -ENOMEM;
	qkdn_nla_u32(tb[QKDN_A_LINK_ID], &qi->id);
	qkdn_nla_u32(tb[QKDN_A_PEER_NODE_ID], &qi->peer);
	qkdn_nla_u8(tb[QKDN_A_QKD_STATE], &qi->state);
	qkdn_nla_u64(tb[QKDN_A_QKD_KEY_RATE], &qi->rate);
	qi->has_qber = qkdn_nla_u32(tb[QKDN_A_QKD_QBER], &qi->qber);
	qkdn_nla_u64(tb[QKDN_A_QKD_UPDATED], &qi->updated);
	cli_stats_parse(tb[QKDN_A_LINK_STATS], &st);
	qi->generated = st.v[QKDN_STAT_A_GENERATED];
	return 0;
}

/* Seconds since the driver's last report, or -1 if it never reported. */
static double age(const struct qkd_info *qi)
{
	struct timespec now;

	if (!qi->state || !qi->updated)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	return ((double)now.tv_sec * 1e9 + (double)now.tv_nsec - (double)qi->updated) / 1e9;
}

static int qkd_show(struct cli *cli, int argc, char **argv)
{
	const char *what = "qkd show";
	struct qkdn_nl_msg *msg = cli_msg(QKDN_CMD_LINK_GET);
	struct qkd_list l = { 0 };

	if (argc > 0) {
		qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, cli_u32(argv[0], "link ID"));
		cli_no_more(what, argc, argv, 1);
		cli_request(cli, what, msg, qkd_cb, &l);
	} else {
		cli_dump(cli, what, msg, qkd_cb, &l);
	}
	qkdn_nl_msg_free(msg);

	if (cli->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < l.n; i++) {
			const struct qkd_info *qi = &l.v[i];
			json_t *o = json_pack("{s:I, s:I, s:s, s:o, s:o}", "link", (json_int_t)qi->id,
					      "peer", (json_int_t)qi->peer, "state",
					      state_name(qi->state), "key_rate", cli_json_u64(qi->rate),
					      "generated", cli_json_u64(qi->generated));

			json_object_set_new(o, "qber", qi->has_qber && qi->state ?
					    json_real(qi->qber / 1e6) : json_null());
			json_object_set_new(o, "updated", qi->state ? cli_json_u64(qi->updated) :
					    json_null());
			json_array_append_new(arr, o);
		}
		cli_json_print(arr);
	} else {
		for (size_t i = 0; i < l.n; i++) {
			const struct qkd_info *qi = &l.v[i];

			printf("link %u: peer %u state %s", qi->id, qi->peer, state_name(qi->state));
			if (qi->state) {
				printf(" rate %" PRIu64 " bit/s", qi->rate);
				if (qi->has_qber)
					printf(" qber %.4f", qi->qber / 1e6);
				printf(" updated %.1f s ago", age(qi));
			} else {
				printf(" (no QKD driver has reported)");
			}
			printf("\n");
		}
	}
	free(l.v);
	return 0;
}

static const struct cli_cmd qkd_cmds[] = {
	{ "show", "[ID]", "state, secret key rate and QBER of each link's QKD link, "
	  "as its driver last reported them", qkd_show },
	{ 0 }
};

const struct cli_object cli_qkd = {
	.name = "qkd", .help = "QKD links under the KMA links (Mq)", .cmds = qkd_cmds,
	.default_first = true,
};
