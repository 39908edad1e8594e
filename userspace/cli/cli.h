/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Shared pieces of the qkdn command-line tool. */
#ifndef QKDN_CLI_H
#define QKDN_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "nl.h"

struct cli {
	bool json;
	struct qkdn_nl *nl;	/* opened on first use by cli_nl() */
};

struct cli_cmd {
	const char *name;
	const char *usage;	/* arguments after "qkdn OBJECT NAME" */
	const char *help;
	/* argv[0] is the first argument after the command name. */
	int (*run)(struct cli *cli, int argc, char **argv);
};

struct cli_object {
	const char *name;
	const char *help;
	/* Either subcommands (the first one is the default when none is
	 * given, if default_first is set), or a single command. */
	const struct cli_cmd *cmds;
	bool default_first;
	const struct cli_cmd *single;
};

extern const struct cli_object cli_ak;
extern const struct cli_object cli_mgr;	/* qkdn-mgrd, over HTTPS (cli/mgr.c) */
extern const struct cli_object cli_node, cli_link, cli_stats, cli_key, cli_app,
	cli_route, cli_relay, cli_store, cli_monitor, cli_ping, cli_qkd;

/* The netlink handle; dies with a clear message if the family is missing. */
struct qkdn_nl *cli_nl(struct cli *cli);
/* Dies with "qkdn: <what>: <strerror>[: <extack>]". */
__attribute__((noreturn))
void cli_nl_die(struct cli *cli, const char *what, int err);
/* Sends a request and dies on failure. */
void cli_request(struct cli *cli, const char *what, struct qkdn_nl_msg *msg,
		 qkdn_nl_cb cb, void *data);
void cli_dump(struct cli *cli, const char *what, struct qkdn_nl_msg *msg,
	      qkdn_nl_cb cb, void *data);
struct qkdn_nl_msg *cli_msg(uint8_t cmd);

/* Argument helpers; all die with a one-line message on error. what is the
 * command ("link add") used in messages. */
/* The value after keyword argv[*i]; advances *i. */
const char *cli_value(const char *what, int argc, char **argv, int *i);
void cli_once(const char *what, const char *kw, bool *seen);
uint64_t cli_u64(const char *s, const char *name);
uint32_t cli_u32(const char *s, const char *name);
uint16_t cli_u16(const char *s, const char *name);
/* A node ID, 1..QKDN_NODE_ID_MAX. */
uint32_t cli_node_id(const char *s, const char *name);
int cli_fd(const char *s, const char *name);
__attribute__((noreturn))
void cli_missing(const char *what, const char *name);
__attribute__((noreturn))
void cli_unknown_arg(const char *what, const char *arg);
void cli_no_more(const char *what, int argc, char **argv, int i);

/* Output. */
void cli_json_print(json_t *j);
json_t *cli_json_u64(uint64_t v);
const char *cli_role_name(uint8_t role);

/* The counters of a stats nest (link, relay or store), indexed by attribute. */
struct cli_stats {
	uint64_t v[32];
	uint32_t present; /* bit per attribute */
};

/* One counter of a stats nest: its attribute and its text and JSON names. */
struct cli_counter {
	int attr;
	const char *name, *json, *unit;
};

struct cli_counter_set {
	const struct cli_counter *fields;
	size_t n;
	unsigned int max;	/* the nest's highest attribute */
};

/* QKDN_A_LINK_STATS, QKDN_A_RELAY_STATS and QKDN_A_STORE_STATS. */
extern const struct cli_counter_set cli_link_counters, cli_relay_counters,
	cli_store_counters;
void cli_counters_parse(const struct cli_counter_set *set, const struct nlattr *nest,
			struct cli_stats *st);
/* Prints "<lead>name N name N ...\n"; nothing if no counter is present. */
void cli_counters_print(const struct cli_counter_set *set, const struct cli_stats *st,
			const char *lead);
json_t *cli_counters_json(const struct cli_counter_set *set, const struct cli_stats *st);

/* The node's relay counters (NODE_GET); dies on failure. */
void cli_node_relay_stats(struct cli *cli, const char *what, struct cli_stats *relay);

/* The link stats nest as text or JSON. */
void cli_stats_parse(const struct nlattr *nest, struct cli_stats *st);
/* Prints "<indent>stored N ...\n<indent>qkd-keys N ...\n". */
void cli_stats_print(const struct cli_stats *st, const char *indent);
json_t *cli_stats_json(const struct cli_stats *st);

#endif
