// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Hex, base64 and UUID encodings: round trips and rejects. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "hex.h"
#include "tap.h"

static void test_hex(void)
{
	const uint8_t in[] = { 0x00, 0x01, 0xab, 0xff, 0x7f };
	uint8_t out[8];
	char s[16];

	ok(qkdn_hex_encode(s, sizeof(s), in, sizeof(in)) == 10 &&
	   strcmp(s, "0001abff7f") == 0, "hex encode lowercase");
	ok(qkdn_hex_encode(s, 10, in, sizeof(in)) == -ENOSPC, "hex encode needs room for NUL");
	ok(qkdn_hex_decode(out, sizeof(out), "0001ABff7f", 10) == 5 &&
	   memcmp(out, in, 5) == 0, "hex decode either case");
	ok(qkdn_hex_decode(out, sizeof(out), "abc", 3) == -EINVAL, "hex rejects odd length");
	ok(qkdn_hex_decode(out, sizeof(out), "0g", 2) == -EINVAL, "hex rejects non-digit");
	ok(qkdn_hex_decode(out, sizeof(out), " 0a", 3) == -EINVAL, "hex rejects space");
	ok(qkdn_hex_decode(out, 2, "000102", 6) == -ENOSPC, "hex decode checks room");
	ok(qkdn_hex_decode(out, sizeof(out), "", 0) == 0, "hex decode empty");
}

static void test_base64(void)
{
	/* RFC 4648 section 10 vectors. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	uint8_t bin[256], back[256 + 3];
	char s[400];
	int n;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		n = qkdn_base64_encode(s, sizeof(s), vec[i][0], strlen(vec[i][0]));
		ok(n == (int)strlen(vec[i][1]) && strcmp(s, vec[i][1]) == 0,
		   "base64 encode \"%s\"", vec[i][0]);
		n = qkdn_base64_decode(back, sizeof(back), vec[i][1], strlen(vec[i][1]));
		ok(n == (int)strlen(vec[i][0]) && memcmp(back, vec[i][0], (size_t)n) == 0,
		   "base64 decode \"%s\"", vec[i][1]);
	}
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)(i * 7 + 3);
	n = qkdn_base64_encode(s, sizeof(s), bin, sizeof(bin));
	ok(n == (int)qkdn_base64_encoded_len(sizeof(bin)), "base64 encode 256 bytes");
	ok(qkdn_base64_decode(back, sizeof(back), s, (size_t)n) == 256 &&
	   memcmp(back, bin, 256) == 0, "base64 round trip of all byte values");
	ok(qkdn_base64_encode(s, 4, "foo", 3) == -ENOSPC, "base64 encode needs room for NUL");
	ok(qkdn_base64_decode(back, sizeof(back), "Zm9", 3) == -EINVAL, "base64 rejects length 3");
	ok(qkdn_base64_decode(back, sizeof(back), "Zm9*", 4) == -EINVAL, "base64 rejects '*'");
	ok(qkdn_base64_decode(back, sizeof(back), "Z===", 4) == -EINVAL, "base64 rejects 3 pads");
	ok(qkdn_base64_decode(back, sizeof(back), "Zg=v", 4) == -EINVAL, "base64 rejects inner pad");
	ok(qkdn_base64_decode(back, sizeof(back), "Zm 9", 4) == -EINVAL, "base64 rejects space");
	ok(qkdn_base64_decode(back, 2, "Zm9v", 4) == -ENOSPC, "base64 decode checks room");
}

static void test_uuid(void)
{
	const uint8_t id[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x8d, 0xef,
				 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a };
	uint8_t back[16];
	char s[QKDN_UUID_STRLEN + 1];

	qkdn_uuid_format(s, id);
	ok(strcmp(s, "12345678-9abc-8def-8001-00000000010a") == 0, "uuid format: %s", s);
	ok(qkdn_uuid_parse(back, s) == 0 && memcmp(back, id, 16) == 0, "uuid round trip");
	ok(qkdn_uuid_parse(back, "12345678-9ABC-8DEF-8001-00000000010A") == 0 &&
	   memcmp(back, id, 16) == 0, "uuid parse uppercase");
	memset(back, 0x55, sizeof(back));
	ok(qkdn_uuid_parse(back, "12345678-9abc-8def-8001-00000000010") == -EINVAL,
	   "uuid rejects short");
	ok(back[0] == 0x55, "failed parse leaves output alone");
	ok(qkdn_uuid_parse(back, "12345678-9abc-8def-8001-00000000010a0") == -EINVAL,
	   "uuid rejects long");
	ok(qkdn_uuid_parse(back, "123456789abc-8def-8001-00000000010a-") == -EINVAL,
	   "uuid rejects misplaced dashes");
	ok(qkdn_uuid_parse(back, "12345678-9abc-8def-8001-00000000010g") == -EINVAL,
	   "uuid rejects non-hex");
	ok(qkdn_uuid_parse(back, "123456789abc8def800100000000010a") == -EINVAL,
	   "uuid rejects no dashes");
	ok(qkdn_uuid_parse(back, "") == -EINVAL, "uuid rejects empty");
}

int main(void)
{
	test_hex();
	test_base64();
	test_uuid();
	return tap_done();
}
