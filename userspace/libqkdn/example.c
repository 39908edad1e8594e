// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * qkdn-ak-example: two applications share a one-time pad through libqkdn.
 *
 *   qkdn-ak-example send SAE PEER_SAE MESSAGE
 *       takes a new key for encryption, XORs MESSAGE (at most one key
 *       long) with it and prints "<key ID> <ciphertext in hex>"
 *   qkdn-ak-example receive SAE PEER_SAE KEY_ID CIPHERTEXT
 *       takes the key with that ID for decryption and prints the message
 *
 * Run send at one node and receive at the other with the output of send:
 * the message comes back only if both ends got the same key bytes. The
 * key itself is never printed. The sender keeps its key in the library's
 * locked memory; the receiver asks the size first and takes the key into
 * a buffer of its own, which it wipes.
 */
#define _DEFAULT_SOURCE	/* explicit_bzero() */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qkdn/qkdn.h>

static int die(struct qkdn *h, const char *what, int err)
{
	const char *msg = qkdn_error(h);

	fprintf(stderr, "qkdn-ak-example: %s: %s%s%s\n", what, strerror(-err),
		*msg ? ": " : "", msg);
	qkdn_close(h);
	return 1;
}

static int send_message(struct qkdn *h, uint64_t session, const char *message)
{
	size_t len = strlen(message);
	struct qkdn_ak_info info;
	char id[QKDN_KEY_ID_STRLEN];
	struct qkdn_keys *keys;
	int ret;

	ret = qkdn_ak_get(h, session, 1, 0, &keys, &info);
	if (ret < 0)
		return die(h, "get a key", ret);
	if (ret == QKDN_AK_SUPPLY_INSUFFICIENT) {
		fprintf(stderr, "qkdn-ak-example: no key available (%llu stored)\n",
			(unsigned long long)info.status.stored_key_count);
		qkdn_close(h);
		return 1;
	}
	if (len > keys->key[0].len) {
		fprintf(stderr, "qkdn-ak-example: message longer than the key\n");
		qkdn_keys_free(keys);
		qkdn_close(h);
		return 1;
	}
	qkdn_key_id_format(id, keys->key[0].id);
	printf("%s ", id);
	for (size_t i = 0; i < len; i++)
		printf("%02x", (unsigned char)message[i] ^ keys->key[0].data[i]);
	printf("\n");
	qkdn_keys_free(keys);
	return 0;
}

static int receive_message(struct qkdn *h, uint64_t session, const char *key_id,
			   const char *hex)
{
	uint8_t id[1][QKDN_KEY_ID_LEN];
	struct qkdn_ak_status status;
	size_t len = strlen(hex) / 2;
	unsigned char *key;
	char *message;
	int ret;

	if (qkdn_key_id_parse(id[0], key_id) < 0 || strlen(hex) % 2) {
		fprintf(stderr, "qkdn-ak-example: bad key ID or ciphertext\n");
		qkdn_close(h);
		return 1;
	}
	ret = qkdn_ak_status(h, session, QKDN_AK_DECRYPT, &status);
	if (ret < 0)
		return die(h, "status", ret);
	if (len > status.key_size / 8) {
		fprintf(stderr, "qkdn-ak-example: ciphertext longer than a key\n");
		qkdn_close(h);
		return 1;
	}
	key = calloc(1, status.key_size / 8);
	message = calloc(1, len + 1);
	if (!key || !message) {
		free(key);
		free(message);
		return die(h, "memory", -ENOMEM);
	}
	ret = qkdn_ak_get_by_id_into(h, session, id, 1, status.key_size, key,
				     status.key_size / 8, NULL);
	if (ret < 0) {
		free(key);
		free(message);
		return die(h, "get the key", ret);
	}
	for (size_t i = 0; i < len; i++) {
		unsigned int byte;

		sscanf(hex + 2 * i, "%2x", &byte);
		message[i] = (char)(byte ^ key[i]);
	}
	explicit_bzero(key, status.key_size / 8);
	free(key);
	printf("%s\n", message);
	free(message);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t session;
	struct qkdn *h;
	int ret;

	if (!((argc == 5 && !strcmp(argv[1], "send")) ||
	      (argc == 6 && !strcmp(argv[1], "receive")))) {
		fprintf(stderr,
			"usage: qkdn-ak-example send SAE PEER_SAE MESSAGE\n"
			"       qkdn-ak-example receive SAE PEER_SAE KEY_ID CIPHERTEXT\n");
		return 2;
	}
	ret = qkdn_open(&h);
	if (ret < 0)
		return die(NULL, "open", ret);
	ret = qkdn_ak_auth(h, argv[2], argv[3], &session, NULL);
	if (ret < 0)
		return die(h, "authenticate", ret);
	if (argc == 5)
		ret = send_message(h, session, argv[4]);
	else
		ret = receive_message(h, session, argv[4], argv[5]);
	if (ret)
		return ret;
	ret = qkdn_ak_end(h, session);
	if (ret < 0)
		return die(h, "end the session", ret);
	qkdn_close(h);
	return 0;
}
