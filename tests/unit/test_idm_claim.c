/*
 * test_idm_claim.c - the lines of a claims file (`idm claim --file`),
 * idm_claim_line_parse: "DEVEUI OWNERTOKEN" and the TR005 QR payload
 * (docs/hsa.md) give the DevEUI and the owner token's text; anything else is
 * IDM_ERR_INPUT with a sentence that does not quote the line (it may hold a
 * token), and leaves no token behind. The claims themselves are tested in
 * test_idm_tenant.c and tests/integration/idm_claims.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "idm/idm_tenant.h"

#define TOK "3A6EE73862B0FDA2AADE3AAC380FB1EC"

static void parses(const char *line, uint64_t want_dev, const char *want_tok)
{
    uint64_t dev = 0;
    char tok[2 * IDM_OWNER_TOKEN_LEN + 1], err[IDM_ERR_MAX];
    assert_int_equal(idm_claim_line_parse(line, &dev, tok, err), IDM_OK);
    assert_true(dev == want_dev);
    assert_string_equal(tok, want_tok);
}

static void refuses(const char *line, const char *why)
{
    uint64_t dev = 1;
    char tok[2 * IDM_OWNER_TOKEN_LEN + 1], err[IDM_ERR_MAX];
    memset(tok, 'x', sizeof tok);
    assert_int_equal(idm_claim_line_parse(line, &dev, tok, err), IDM_ERR_INPUT);
    assert_true(dev == 0);
    assert_non_null(strstr(err, why));
    assert_null(strstr(err, TOK));
    for (size_t i = 0; i < sizeof tok; i++)
        assert_int_equal(tok[i], 0);
}

static void pairs_with_blanks_and_newlines(void **state)
{
    (void)state;
    parses("70B3D57ED0010000 " TOK, 0x70B3D57ED0010000ull, TOK);
    parses("70b3d57ed0010001\t\t" TOK "\n", 0x70B3D57ED0010001ull, TOK);
    parses("  70B3D57ED0010002   " TOK "  \r\n", 0x70B3D57ED0010002ull, TOK);
    parses("70B3D57ED0010003 3a6ee73862b0fda2aade3aac380fb1ec", 0x70B3D57ED0010003ull,
           "3a6ee73862b0fda2aade3aac380fb1ec");
}

static void qr_payloads(void **state)
{
    (void)state;
    parses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:00000000:O" TOK, 0x70B3D57ED0010000ull, TOK);
    parses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:00000000:O" TOK "\n", 0x70B3D57ED0010000ull, TOK);
    /* other TR005 optional fields, before and after, are skipped */
    parses("LW:D0:70B3D57ED0000000:70B3D57ED0010009:A1B20001:S1234:O" TOK ":C1A2B", 0x70B3D57ED0010009ull, TOK);
}

static void malformed_lines(void **state)
{
    (void)state;
    refuses("", "expected DEVEUI OWNERTOKEN");
    refuses("70B3D57ED0010000", "expected DEVEUI OWNERTOKEN");
    refuses("70B3D57ED001000 " TOK, "expected DEVEUI OWNERTOKEN");            /* 15 digits */
    refuses("70B3D57ED0010000 " TOK "00", "expected DEVEUI OWNERTOKEN");      /* 34 digits */
    refuses("70B3D57ED0010000 " TOK " extra", "expected DEVEUI OWNERTOKEN");
    refuses("70B3D57ED0010000 3A6EE73862B0FDA2AADE3AAC380FB1EG", "expected DEVEUI OWNERTOKEN");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:00000000", "no owner token");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED0010000", "expected LW:D0:");
    refuses("LW:D1:70B3D57ED0000000:70B3D57ED0010000:00000000:O" TOK, "expected LW:D0:");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED00100:00000000:O" TOK, "expected LW:D0:");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:000000:O" TOK, "expected LW:D0:");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:00000000:O3A6E", "the O field");
    refuses("LW:D0:70B3D57ED0000000:70B3D57ED0010000:00000000:O" TOK ":O" TOK, "the O field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_with_blanks_and_newlines),
        cmocka_unit_test(qr_payloads),
        cmocka_unit_test(malformed_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
