// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn: administer the QKD network key manager of this network namespace.
 *
 *   qkdn [-j] OBJECT [COMMAND [ARGS]]
 *
 * Objects and commands are tables in the cli/ sources; "qkdn help" and
 * "qkdn OBJECT help" print them. Errors are one line on stderr, exit 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "log.h"
#include "secmem.h"

#define QKDN_VERSION "0.1"

static const struct cli_object *const objects[] = {
	&cli_node, &cli_link, &cli_stats, &cli_key, &cli_app, &cli_route, &cli_relay,
	&cli_store, &cli_qkd, &cli_monitor, &cli_ping, &cli_ak,
	&cli_mgr,	/* qkdn-mgrd (cli/mgr.c) */
};

static void print_cmd(FILE *f, const char *obj, const struct cli_cmd *c)
{
	char line[160];

	if (c->name)
		snprintf(line, sizeof(line), "qkdn %s %s%s%s", obj, c->name,
			 *c->usage ? " " : "", c->usage);
	else
		snprintf(line, sizeof(line), "qkdn %s%s%s", obj, *c->usage ? " " : "", c->usage);
	fprintf(f, "  %s\n      %s\n", line, c->help);
}

static void object_help(FILE *f, const struct cli_object *o)
{
	fprintf(f, "%s: %s\n", o->name, o->help);
	if (o->single) {
		print_cmd(f, o->name, o->single);
		return;
	}
	for (const struct cli_cmd *c = o->cmds; c->name; c++)
		print_cmd(f, o->name, c);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: qkdn [-j] OBJECT [COMMAND [ARGS]]\n"
		"       qkdn help | qkdn OBJECT help\n"
		"Options: -j, --json  JSON output for show and get commands\n"
		"         -h, --help  this help;  -V, --version\n"
		"Objects:\n");
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		fprintf(f, "  %-8s %s\n", objects[i]->name, objects[i]->help);
	fprintf(f, "\n");
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		object_help(f, objects[i]);
		if (i + 1 < sizeof(objects) / sizeof(objects[0]))
			fprintf(f, "\n");
	}
}

static bool is_help(const char *s)
{
	return !strcmp(s, "help") || !strcmp(s, "-h") || !strcmp(s, "--help");
}

static int run_object(struct cli *cli, const struct cli_object *o, int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc > 0 && is_help(argv[0])) {
		object_help(stdout, o);
		return 0;
	}
	if (o->single)
		return o->single->run(cli, argc, argv);
	if (argc == 0) {
		if (o->default_first)
			return o->cmds[0].run(cli, 0, argv);
		qkdn_die("%s: missing command (try 'qkdn %s help')", o->name, o->name);
	}
	for (c = o->cmds; c->name; c++)
		if (!strcmp(argv[0], c->name))
			return c->run(cli, argc - 1, argv + 1);
	qkdn_die("%s: unknown command '%s' (try 'qkdn %s help')", o->name, argv[0], o->name);
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int err, i, ret;

	qkdn_log_init("qkdn", QKDN_LOG_WARN);
	err = qkdn_harden_process();
	if (err)
		qkdn_die_err(err, "cannot make the process non-dumpable");

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("qkdn %s\n", QKDN_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else {
			qkdn_die("unknown option '%s' (try 'qkdn help')", argv[i]);
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[i], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t o = 0; o < sizeof(objects) / sizeof(objects[0]); o++) {
		if (strcmp(argv[i], objects[o]->name) != 0)
			continue;
		ret = run_object(&cli, objects[o], argc - i - 1, argv + i + 1);
		if (cli.nl)
			qkdn_nl_close(cli.nl);
		if (fflush(stdout) == EOF)
			qkdn_die_err(errno, "write");
		return ret;
	}
	qkdn_die("unknown object '%s' (try 'qkdn help')", argv[i]);
}
