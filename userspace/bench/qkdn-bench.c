// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-bench: netlink round trips and key supply rates of the local node.
 *
 *   qkdn-bench --sae SAE --peer PEER_SAE [--seconds N] [--batch B]
 *   qkdn-bench --fill-link ID --fill-bytes N [--fill-file FILE]
 *   qkdn-bench --relay-dest NODE [--relay-amount N] [--relay-size BITS]
 *              [--parallel P] [--seconds N]
 *
 * With --fill-link it only pushes N bytes of fresh random QKD-keys of
 * QKDN_QKD_KEY_MAX bytes into the link (Kq-1) and reports the push rate,
 * so a benchmark can fill a pool without a process per push. With
 * --fill-file the bytes come from FILE instead, so the two ends of a link
 * can be fed the same QKD-keys (IDs "bench-0", "bench-1", ... at both).
 *
 * With --relay-dest it runs P processes (default 1), each relaying keys to
 * NODE in a loop on a socket of its own for N seconds, and reports
 * acknowledged key bytes per second and the mean time per relay.
 *
 * Runs for N seconds each (default 3): PING, KEY_GET with amount 1, and
 * KEY_GET with amount B (default 64), each in a tight loop on one socket
 * with one prebuilt request, so the loop itself allocates nothing. Key
 * bytes arrive in the netlink layer's locked receive buffer, which is
 * wiped after every reply; only the keys are counted here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/qkdn.h>

#include "log.h"
#include "nl.h"
#include "secmem.h"
#include "util.h"

struct phase {
	const char *name;
	uint64_t requests, keys;
	double secs;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Counts the keys of a KEY_GET reply without copying them anywhere. */
static int count_keys_cb(const struct nlmsghdr *nlh, void *data)
{
	uint64_t *keys = data;
	const struct nlattr *a, *k;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) != QKDN_A_KEYS)
			continue;
		mnl_attr_for_each_nested(k, a)
			(*keys)++;
	}
	return 0;
}

static void run(struct qkdn_nl *nl, struct qkdn_nl_msg *msg, struct phase *p,
		double seconds, bool keys)
{
	double start = now(), end = start + seconds, t = start;
	int err;

	while (t < end) {
		err = qkdn_nl_request(nl, msg, keys ? count_keys_cb : NULL, &p->keys);
		if (err == -EAGAIN)
			qkdn_die("%s: the key pool ran dry after %llu requests (%s); "
				 "no rate reported: feed the link more keys or shorten --seconds",
				 p->name, (unsigned long long)p->requests, strerror(EAGAIN));
		if (err) {
			const char *ext = qkdn_nl_extack(nl);

			qkdn_die("%s: %s%s%s", p->name, strerror(-err), *ext ? ": " : "", ext);
		}
		p->requests++;
		t = now();
	}
	p->secs = t - start;
}

/* Kq-1 at full speed: fresh random QKD-keys, one request each. */
static void fill(struct qkdn_nl *nl, uint32_t link, uint64_t bytes, int src)
{
	struct qkdn_nl_msg *msg = qkdn_nl_msg_new(QKDN_CMD_KEY_PUSH, 0);
	uint8_t *data = qkdn_secbuf_alloc(QKDN_QKD_KEY_MAX);
	double start = now(), secs;
	uint64_t pushed = 0, count = 0;
	char id[32];
	int err;

	if (!msg || !data)
		qkdn_die_err(errno, "cannot allocate locked buffers");
	while (pushed < bytes) {
		size_t len = bytes - pushed < QKDN_QKD_KEY_MAX ?
			     bytes - pushed : QKDN_QKD_KEY_MAX;
		size_t got = 0;

		while (got < len) {
			ssize_t n = src < 0 ? getrandom(data + got, len - got, 0) :
					      read(src, data + got, len - got);

			if (n == 0)
				qkdn_die("--fill-file: ends before --fill-bytes");
			if (n < 0 && errno != EINTR)
				qkdn_die_err(errno, src < 0 ? "getrandom" : "--fill-file");
			if (n > 0)
				got += n;
		}
		snprintf(id, sizeof(id), "bench-%llu", (unsigned long long)count);
		qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_PUSH, 0);
		qkdn_nl_put_u32(msg, QKDN_A_LINK_ID, link);
		qkdn_nl_put_str(msg, QKDN_A_QKD_KEY_ID, id);
		qkdn_nl_put(msg, QKDN_A_QKD_KEY_DATA, data, len);
		err = qkdn_nl_request(nl, msg, NULL, NULL);
		if (err) {
			const char *ext = qkdn_nl_extack(nl);

			qkdn_die("key push: %s%s%s", strerror(-err), *ext ? ": " : "", ext);
		}
		pushed += len;
		count++;
	}
	secs = now() - start;
	printf("kq-1 push: %llu QKD-keys of up to %d bytes in %.2f s: %.0f pushes/s, %.1f MB/s\n",
	       (unsigned long long)count, QKDN_QKD_KEY_MAX, secs, count / secs,
	       pushed / secs / 1e6);
	qkdn_secbuf_free(data);
	qkdn_nl_msg_free(msg);
}

struct relay_result {
	uint64_t relays;
	double secs;
	int err;
};

/* One worker: relays in a loop on a socket of its own. */
static struct relay_result relay_loop(uint32_t dest, uint32_t amount,
				      uint32_t bits, uint32_t seconds)
{
	struct relay_result r = { 0 };
	struct qkdn_nl_msg *msg;
	struct qkdn_nl *nl;
	double start, end;

	r.err = qkdn_nl_open(&nl);
	if (r.err)
		return r;
	msg = qkdn_nl_msg_new(QKDN_CMD_RELAY, 0);
	if (!msg) {
		r.err = -ENOMEM;
		qkdn_nl_close(nl);
		return r;
	}
	qkdn_nl_put_u32(msg, QKDN_A_DEST_NODE_ID, dest);
	qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, amount);
	qkdn_nl_put_u32(msg, QKDN_A_KEY_SIZE, bits);
	start = now();
	end = start + seconds;
	while (now() < end) {
		r.err = qkdn_nl_request(nl, msg, NULL, NULL);
		if (r.err)
			break;
		r.relays++;
	}
	r.secs = now() - start;
	qkdn_nl_msg_free(msg);
	qkdn_nl_close(nl);
	return r;
}

static void relay_bench(uint32_t dest, uint32_t amount, uint32_t bits,
			uint32_t seconds, uint32_t parallel)
{
	uint64_t relays = 0;
	double secs = 0;
	int fds[2], failed = 0;
	struct rusage ru;
	uint32_t i;

	if (pipe(fds))
		qkdn_die_err(errno, "pipe");
	for (i = 0; i < parallel; i++) {
		pid_t pid = fork();

		if (pid < 0)
			qkdn_die_err(errno, "fork");
		if (!pid) {
			struct relay_result r = relay_loop(dest, amount, bits, seconds);

			close(fds[0]);
			_exit(write(fds[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
		}
	}
	close(fds[1]);
	for (i = 0; i < parallel; i++) {
		struct relay_result r;

		if (read(fds[0], &r, sizeof(r)) != sizeof(r)) {
			failed++;
			continue;
		}
		if (r.err) {
			fprintf(stderr, "qkdn-bench: relay worker: %s after %llu relays\n",
				strerror(-r.err), (unsigned long long)r.relays);
			failed++;
		}
		relays += r.relays;
		if (r.secs > secs)
			secs = r.secs;
	}
	while (wait(NULL) > 0)
		;
	if (failed || !relays)
		qkdn_die("relay: %d of %u workers failed; no rate reported", failed, parallel);
	printf("relay dest %u: %llu relays of %u x %u bits in %.2f s by %u workers: "
	       "%.0f key bytes/s, %.1f ms a relay\n", dest, (unsigned long long)relays,
	       amount, bits, secs, parallel, relays * amount * (bits / 8.0) / secs,
	       secs * 1000.0 * parallel / relays);
	/* The workers' own CPU time: system time is the module starting
	 * relays (taking link keys, building and sending the first frame)
	 * and finishing them (storing the keys, the reply). */
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		printf("relay workers' CPU: user %.3f s, system %.3f s (%.0f us a relay)\n",
		       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
		       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
		       (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
			(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6) * 1e6 / relays);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: qkdn-bench --sae SAE --peer PEER_SAE [--seconds N] [--batch B]\n"
		   "       qkdn-bench --fill-link ID --fill-bytes N [--fill-file FILE]\n"
		   "       qkdn-bench --relay-dest NODE [--relay-amount N] [--relay-size BITS]\n"
		   "                  [--parallel P] [--seconds N]\n"
		   "  --sae SAE        local SAE to take keys as (its uid must be yours)\n"
		   "  --peer PEER_SAE  remote SAE the keys are shared with\n"
		   "  --seconds N      duration of each phase (default 3)\n"
		   "  --batch B        keys per request in the batch phase (default 64)\n"
		   "  --fill-link ID   push fresh random QKD-keys into link ID, then exit\n"
		   "  --fill-bytes N   how many bytes to push with --fill-link\n"
		   "  --fill-file F    push bytes from F instead of fresh random ones\n"
		   "  --relay-dest D   relay keys to node D in a loop, then exit\n"
		   "  --relay-amount N keys a relay (default 64)\n"
		   "  --relay-size B   bits a key (default 256)\n"
		   "  --parallel P     relaying processes (default 1)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sae", required_argument, NULL, 's' },
		{ "peer", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 't' },
		{ "batch", required_argument, NULL, 'b' },
		{ "fill-link", required_argument, NULL, 'l' },
		{ "fill-bytes", required_argument, NULL, 'n' },
		{ "fill-file", required_argument, NULL, 'f' },
		{ "relay-dest", required_argument, NULL, 'r' },
		{ "relay-amount", required_argument, NULL, 'a' },
		{ "relay-size", required_argument, NULL, 'z' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sae = NULL, *peer = NULL;
	uint32_t seconds = 3, batch = 64, fill_link = 0;
	uint32_t relay_dest = 0, relay_amount = 64, relay_bits = 256, parallel = 1;
	uint64_t fill_bytes = 0;
	const char *fill_file = NULL;
	struct phase ping = { .name = "ping" }, single = { .name = "key_get amount=1" };
	struct phase multi = { .name = "key_get amount=N" };
	char multi_name[48];
	struct qkdn_nl_msg *msg;
	struct qkdn_nl *nl;
	int c, err;

	qkdn_log_init("qkdn-bench", QKDN_LOG_WARN);
	err = qkdn_harden_process();
	if (err)
		qkdn_die_err(err, "cannot make the process non-dumpable");
	while ((c = getopt_long(argc, argv, "s:p:t:b:l:n:f:r:a:z:P:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sae = optarg;
			break;
		case 'p':
			peer = optarg;
			break;
		case 't':
			if (qkdn_parse_u32(optarg, 1, 3600, &seconds))
				qkdn_die("invalid number '%s' for '--seconds' (1..3600)", optarg);
			break;
		case 'b':
			if (qkdn_parse_u32(optarg, 1, QKDN_KEY_AMOUNT_MAX, &batch))
				qkdn_die("invalid number '%s' for '--batch' (1..%d)", optarg,
					 QKDN_KEY_AMOUNT_MAX);
			break;
		case 'l':
			if (qkdn_parse_u32(optarg, 1, UINT32_MAX, &fill_link))
				qkdn_die("invalid number '%s' for '--fill-link'", optarg);
			break;
		case 'n':
			if (qkdn_parse_u64(optarg, 1, UINT64_MAX, &fill_bytes))
				qkdn_die("invalid number '%s' for '--fill-bytes'", optarg);
			break;
		case 'f':
			fill_file = optarg;
			break;
		case 'r':
			if (qkdn_parse_u32(optarg, 1, QKDN_NODE_ID_MAX, &relay_dest))
				qkdn_die("invalid node ID '%s' for '--relay-dest'", optarg);
			break;
		case 'a':
			if (qkdn_parse_u32(optarg, 1, QKDN_RELAY_KEYS_MAX, &relay_amount))
				qkdn_die("invalid number '%s' for '--relay-amount'", optarg);
			break;
		case 'z':
			if (qkdn_parse_u32(optarg, 128, 8192, &relay_bits))
				qkdn_die("invalid number '%s' for '--relay-size'", optarg);
			break;
		case 'P':
			if (qkdn_parse_u32(optarg, 1, 64, &parallel))
				qkdn_die("invalid number '%s' for '--parallel' (1..64)", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc)
		qkdn_die("unexpected argument '%s'", argv[optind]);
	if (!fill_link != !fill_bytes)
		qkdn_die("--fill-link and --fill-bytes go together");
	if (relay_dest) {
		relay_bench(relay_dest, relay_amount, relay_bits, seconds, parallel);
		return 0;
	}
	if (!fill_link && (!sae || !peer))
		qkdn_die("missing '%s' (see --help)", !sae ? "--sae" : "--peer");

	err = qkdn_nl_open(&nl);
	if (err == -ENOENT)
		qkdn_die("generic netlink family \"%s\" not found (is qkdn.ko loaded?)",
			 QKDN_GENL_NAME);
	if (err)
		qkdn_die_err(err, "cannot open generic netlink socket");
	if (fill_link) {
		int src = -1;

		if (fill_file) {
			src = open(fill_file, O_RDONLY | O_CLOEXEC);
			if (src < 0)
				qkdn_die_err(errno, "cannot open '%s'", fill_file);
		}
		fill(nl, fill_link, fill_bytes, src);
		if (src >= 0)
			close(src);
		qkdn_nl_close(nl);
		return 0;
	}
	msg = qkdn_nl_msg_new(QKDN_CMD_PING, 0);
	if (!msg)
		qkdn_die_err(errno, "cannot allocate a locked message buffer");

	run(nl, msg, &ping, seconds, false);
	printf("ping: %.0f round trips/s\n", (double)ping.requests / ping.secs);
	fflush(stdout);

	qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_GET, 0);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, sae);
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, peer);
	qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, 1);
	run(nl, msg, &single, seconds, true);
	printf("key_get amount=1: %.0f requests/s, %.0f keys/s\n",
	       (double)single.requests / single.secs, (double)single.keys / single.secs);
	fflush(stdout);

	snprintf(multi_name, sizeof(multi_name), "key_get amount=%u", batch);
	multi.name = multi_name;
	qkdn_nl_msg_reset(msg, QKDN_CMD_KEY_GET, 0);
	qkdn_nl_put_str(msg, QKDN_A_SAE_ID, sae);
	qkdn_nl_put_str(msg, QKDN_A_PEER_SAE_ID, peer);
	qkdn_nl_put_u32(msg, QKDN_A_KEY_AMOUNT, batch);
	run(nl, msg, &multi, seconds, true);
	printf("%s: %.0f requests/s, %.0f keys/s\n", multi_name,
	       (double)multi.requests / multi.secs, (double)multi.keys / multi.secs);

	printf("ratio single-key/ping: %.2f\n",
	       ((double)single.requests / single.secs) / ((double)ping.requests / ping.secs));
	qkdn_nl_msg_free(msg);
	qkdn_nl_close(nl);
	return 0;
}
