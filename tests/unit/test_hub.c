/*
 * test_hub.c - the peering hub (src/hub/) without sockets: the
 * configuration file, routes (JoinEUI prefixes, NetIDs, AS-IDs), the
 * credentials the hub presents per route and per sender, member
 * authentication and SenderID binding, and hub_route_message() with a fake
 * forwarder that records what would have been POSTed: forwarding byte for
 * byte, the receiver's answer returned as is, UnknownSender, UnkownReceiver,
 * Malformed, InvalidProtocolVersion, unreachable receivers, answers routed
 * by NetID, and the metrics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "lorawan/lw_secure.h"
#include "test_util.h"

#define TOK_HOME    "home-token-0123456789"
#define TOK_VISITED "visited-token-abcdef"
#define TOK_JS      "js-token-for-everyone"
#define TOK_JS_13   "js-token-for-000013"
#define TOK_NS13    "ns13-bi-token"

/* A KeyEnvelope as a Join Server would send it: the hub must pass it on. */
#define WRAPPED "E3D5A47BA25CBE6E5DA820846E0CB6A82B750C59D848EC7A"

typedef struct fake {
    int calls;
    char url[HUB_URL_MAX];
    char bearer[HUB_TOKEN_MAX + 1];
    char body[8192];
    size_t len;
    const char *answer;     /* NULL: unreachable */
    unsigned status;
} fake;

static hub_status fake_forward(void *user, const hub_route *route, const char *bearer, const char *body, size_t len,
                               char *ans, size_t cap, size_t *ans_len, unsigned *http_status, char why[200])
{
    fake *f = user;
    f->calls++;
    snprintf(f->url, sizeof(f->url), "%s", route->url);
    snprintf(f->bearer, sizeof(f->bearer), "%s", bearer ? bearer : "");
    assert_true(len < sizeof(f->body));
    memcpy(f->body, body, len);
    f->body[len] = '\0';
    f->len = len;
    if (f->answer == NULL) {
        snprintf(why, 200, "connection refused");
        return HUB_ERR_IO;
    }
    snprintf(ans, cap, "%s", f->answer);
    *ans_len = strlen(ans);
    *http_status = f->status ? f->status : 200;
    return HUB_OK;
}

static char dir[256];

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void hash_hex(const char *tok, char out[65])
{
    uint8_t h[HUB_HASH_LEN];
    hub_sha256(tok, strlen(tok), h);
    assert_int_equal(lw_hex_encode(h, sizeof(h), out, 65), LW_OK);
}

static const char *make_config(void)
{
    static char path[512];
    char h13[65], h14[65];
    hash_hex(TOK_HOME, h13);
    hash_hex(TOK_VISITED, h14);
    write_file("js.tok", "# per sender, and one for the others\n000013 " TOK_JS_13 "\n" TOK_JS "\n", 0600);
    write_file("ns13.tok", TOK_NS13 "\n", 0600);
    char conf[2048];
    snprintf(conf, sizeof(conf),
             "# test hub\nlisten = 127.0.0.1:4800\nthreads = 4\n"
             "member = 000013 token_sha256=%s\n"
             "member = 000014 token_sha256=%s\n"
             "route = 70B3D57E00000000/32 http://js.invalid/ js.tok\n"
             "route = 70B3D57ED0000000 http://js-exact.invalid/\n"
             "route = 000013 http://ns13.invalid/bi ns13.tok\n"
             "route = as.example.com http://as.invalid/\n",
             h13, h14);
    write_file("hub.conf", conf, 0644);
    snprintf(path, sizeof(path), "%s/hub.conf", dir);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/ferry-hub-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void load(hub_config *cfg)
{
    char err[HUB_ERR_MAX];
    hub_status st = hub_config_load(make_config(), cfg, err);
    if (st != HUB_OK)
        fail_msg("config: %s", err);
}

static void test_config(void **state)
{
    (void)state;
    hub_config *cfg = calloc(1, sizeof(*cfg));
    load(cfg);
    assert_int_equal(cfg->n_members, 2);
    assert_int_equal(cfg->n_routes, 4);
    assert_int_equal(cfg->n_creds, 1);
    assert_int_equal(cfg->threads, 4);
    assert_string_equal(cfg->routes[0].token, TOK_JS);
    assert_string_equal(cfg->routes[2].token, TOK_NS13);
    hub_config_wipe(cfg);

    /* refusals name the line */
    char err[HUB_ERR_MAX];
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"bogus = 1\n", "unknown key 'bogus'"},
        {"member = 000013\nroute = 000013 http://x/\n", "no credential"},
        {"member = 000013 token_sha256=abcd\n", "64 hex digits"},
        {"member = 000013 colour=red\n", "unknown member attribute"},
        {"member = 000013 client_ca=nope.pem\n", "client_ca"},
        {"route = 000013 ftp://x/\n", "http:// or https://"},
        {"route = 000013 http://a/\nroute = 000013 http://b/\n", "exists already"},
        {"route = 000013 http://a/ loose.tok\n", "readable by others"},
        {"route = 000013 http://a/ missing.tok\n", "missing.tok"},
        {"threads = 1\n", "threads"},
        {"listen = nowhere\n", "ADDR:PORT"},
        {"route = 000013 http://a/\n", "no member"},
    };
    write_file("loose.tok", "x\n", 0644);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file("bad.conf", bad[i].text, 0644);
        char path[512];
        snprintf(path, sizeof(path), "%s/bad.conf", dir);
        assert_int_equal(hub_config_load(path, cfg, err), HUB_ERR_CONFIG);
        if (strstr(err, bad[i].want) == NULL)
            fail_msg("config \"%s\": error \"%s\" does not mention \"%s\"", bad[i].text, err, bad[i].want);
    }
    free(cfg);
}

static void test_routes(void **state)
{
    (void)state;
    hub_config *cfg = calloc(1, sizeof(*cfg));
    load(cfg);
    bi_id id;
    bi_id_set_eui(&id, 0x70B3D57ED0000000ULL);
    const hub_route *r = hub_route_find(cfg, &id);
    assert_non_null(r);
    assert_string_equal(r->url, "http://js-exact.invalid/"); /* /64 beats /32 */
    bi_id_set_eui(&id, 0x70B3D57E12345678ULL);
    r = hub_route_find(cfg, &id);
    assert_non_null(r);
    assert_string_equal(r->url, "http://js.invalid/");
    bi_id_set_eui(&id, 0x0102030405060708ULL);
    assert_null(hub_route_find(cfg, &id));
    bi_id_set_net_id(&id, 0x000013);
    r = hub_route_find(cfg, &id);
    assert_non_null(r);
    assert_string_equal(r->url, "http://ns13.invalid/bi");
    bi_id_set_net_id(&id, 0x000014);
    assert_null(hub_route_find(cfg, &id));
    assert_int_equal(bi_id_set_name(&id, "as.example.com"), BI_OK);
    assert_non_null(hub_route_find(cfg, &id));

    /* credentials: per sender first, else the route's, else none */
    bi_id s13, s14;
    bi_id_set_net_id(&s13, 0x000013);
    bi_id_set_net_id(&s14, 0x000014);
    const hub_route *js = &cfg->routes[0];
    assert_string_equal(hub_route_bearer(cfg, js, &s13), TOK_JS_13);
    assert_string_equal(hub_route_bearer(cfg, js, &s14), TOK_JS);
    assert_null(hub_route_bearer(cfg, &cfg->routes[1], &s13));

    /* members */
    assert_non_null(hub_member_find(cfg, &s13));
    bi_id s15;
    bi_id_set_net_id(&s15, 0x000015);
    assert_null(hub_member_find(cfg, &s15));
    hub_config_wipe(cfg);
    free(cfg);
}

typedef struct env {
    hub_config *cfg;
    hub_ctx *ctx;
    fake f;
    hub_reply *r;
} env;

static void env_open(env *e)
{
    memset(e, 0, sizeof(*e));
    e->cfg = calloc(1, sizeof(*e->cfg));
    e->ctx = calloc(1, sizeof(*e->ctx));
    e->r = malloc(sizeof(*e->r));
    load(e->cfg);
    hub_io io = {.user = &e->f, .forward = fake_forward};
    char err[HUB_ERR_MAX];
    assert_int_equal(hub_ctx_open(e->ctx, e->cfg, &io, err), HUB_OK);
}

static void env_close(env *e)
{
    hub_ctx_close(e->ctx);
    hub_config_wipe(e->cfg);
    free(e->cfg);
    free(e->ctx);
    free(e->r);
}

static void route_msg(env *e, const char *bearer, const char *body)
{
    hub_auth a = {.bearer = bearer};
    hub_route_message(e->ctx, &a, body, strlen(body), e->r);
    e->r->body[e->r->len < sizeof(e->r->body) ? e->r->len : 0] = '\0';
}

static const char JOIN_REQ[] =
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57E00000001\","
    "\"TransactionID\":77,\"MessageType\":\"JoinReq\",\"SenderNSID\":\"0000000000000013\",\"MACVersion\":\"1.0.3\","
    "\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\",\"DevEUI\":\"0102030405060708\","
    "\"DevAddr\":\"26000001\",\"DLSettings\":\"00\",\"RxDelay\":1}";

static const char JOIN_ANS[] =
    "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"70B3D57E00000001\",\"ReceiverID\":\"000013\",\"TransactionID\":77,"
    "\"MessageType\":\"JoinAns\",\"ReceiverNSID\":\"0000000000000013\",\"Result\":{\"ResultCode\":\"Success\"},"
    "\"PHYPayload\":\"204D675073BB4153B23653EFA82C1F3A49\",\"Lifetime\":0,"
    "\"NwkSKey\":{\"KEKLabel\":\"ns:000013\",\"AESKey\":\"" WRAPPED "\"}}";

static void expect_result(const hub_reply *r, const char *code, const char *in_desc)
{
    assert_int_equal(r->http_status, 200);
    bi_relay_msg m;
    bi_error e;
    if (bi_relay_parse(r->body, r->len, &m, &e) != BI_OK)
        fail_msg("hub answer is not BI: %s (%s)", r->body, e.description);
    assert_true(m.has_result);
    const char *name = bi_result_code_name(m.result, m.hdr.version);
    if (strcmp(name, code) != 0)
        fail_msg("expected %s, got %s: %s", code, name, r->body);
    if (in_desc != NULL && strstr(r->body, in_desc) == NULL)
        fail_msg("answer %s does not mention \"%s\"", r->body, in_desc);
}

static void test_forward(void **state)
{
    (void)state;
    env e;
    env_open(&e);
    e.f.answer = JOIN_ANS;
    route_msg(&e, TOK_HOME, JOIN_REQ);
    assert_int_equal(e.f.calls, 1);
    assert_string_equal(e.f.url, "http://js.invalid/");
    assert_string_equal(e.f.bearer, TOK_JS_13);           /* the credential for this sender */
    assert_int_equal(e.f.len, strlen(JOIN_REQ));
    assert_memory_equal(e.f.body, JOIN_REQ, e.f.len);      /* byte for byte */
    assert_int_equal(e.r->http_status, 200);
    assert_int_equal(e.r->len, strlen(JOIN_ANS));
    assert_memory_equal(e.r->body, JOIN_ANS, e.r->len);    /* the answer as the receiver wrote it */
    assert_int_equal(e.r->outcome, HUB_FORWARDED);
    assert_true(e.r->has_result && e.r->result == BI_RESULT_SUCCESS);
    assert_null(strstr(e.r->note, WRAPPED));
    assert_string_equal(e.r->sender, "000013");

    /* the receiver's non-200 answer goes back as it is */
    e.f.answer = "not a BI message\n";
    e.f.status = 400;
    route_msg(&e, TOK_HOME, JOIN_REQ);
    assert_int_equal(e.r->http_status, 400);
    assert_string_equal(e.r->body, "not a BI message\n");
    e.f.status = 0;

    /* a mismatched answer is passed on, and noted */
    e.f.answer = "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"70B3D57E00000001\",\"ReceiverID\":\"000013\","
                 "\"TransactionID\":78,\"MessageType\":\"JoinAns\",\"Result\":{\"ResultCode\":\"Success\"}}";
    route_msg(&e, TOK_HOME, JOIN_REQ);
    assert_int_equal(e.r->outcome, HUB_FORWARDED);
    assert_non_null(strstr(e.r->note, "does not match"));

    /* a Join Server answering asynchronously: its empty 200 goes back as
     * it is, noted as an acknowledgement (its JoinAns follows as a POST) */
    e.f.answer = "";
    route_msg(&e, TOK_HOME, JOIN_REQ);
    assert_int_equal(e.r->outcome, HUB_FORWARDED);
    assert_int_equal(e.r->http_status, 200);
    assert_int_equal(e.r->len, 0);
    assert_false(e.r->has_result);
    assert_non_null(strstr(e.r->note, "asynchronously"));

    /* unreachable receiver: the hub answers Other */
    e.f.answer = NULL;
    route_msg(&e, TOK_HOME, JOIN_REQ);
    expect_result(e.r, "Other", "unreachable");
    assert_int_equal(e.r->outcome, HUB_UNREACHABLE);
    env_close(&e);
}

static void test_auth_and_sender_binding(void **state)
{
    (void)state;
    env e;
    env_open(&e);
    e.f.answer = JOIN_ANS;
    route_msg(&e, "wrong-token", JOIN_REQ);
    expect_result(e.r, "UnknownSender", "missing or wrong");
    assert_int_equal(e.r->outcome, HUB_UNKNOWN_SENDER);
    route_msg(&e, NULL, JOIN_REQ);
    expect_result(e.r, "UnknownSender", NULL);
    /* 000014's own token, speaking as 000013 */
    route_msg(&e, TOK_VISITED, JOIN_REQ);
    expect_result(e.r, "UnknownSender", "member 000014's");
    /* a sender that is no member at all */
    char other[sizeof(JOIN_REQ) + 8];
    snprintf(other, sizeof(other), "%s", JOIN_REQ);
    memcpy(strstr(other, "\"000013\""), "\"000015\"", 8);
    route_msg(&e, "some-token", other);
    expect_result(e.r, "UnknownSender", "not a member");
    route_msg(&e, TOK_HOME, other); /* a member's token, for a SenderID that is nobody's */
    expect_result(e.r, "UnknownSender", "member 000013's");
    assert_int_equal(e.f.calls, 0); /* nothing reached a receiver */
    /* the NetID compares by value: 0x-prefixed lowercase is the same member */
    snprintf(other, sizeof(other), "%s", JOIN_REQ);
    char *p = strstr(other, "\"SenderID\":\"000013\"");
    memmove(p + 14, p + 12, strlen(p + 12) + 1);
    memcpy(p + 12, "0x000013", 8);
    route_msg(&e, TOK_HOME, other);
    assert_int_equal(e.r->outcome, HUB_FORWARDED);
    assert_int_equal(e.f.calls, 1);
    env_close(&e);
}

static void test_refusals(void **state)
{
    (void)state;
    env e;
    env_open(&e);
    e.f.answer = JOIN_ANS;
    /* unknown JoinEUI */
    char unk[sizeof(JOIN_REQ)];
    snprintf(unk, sizeof(unk), "%s", JOIN_REQ);
    memcpy(strstr(unk, "70B3D57E00000001"), "0102030405060708", 16);
    route_msg(&e, TOK_HOME, unk);
    expect_result(e.r, "UnkownReceiver", "no route");
    assert_int_equal(e.r->outcome, HUB_UNKNOWN_RECEIVER);
    /* ... and in 1.0 the same spelling, the answer without NSIDs */
    const char *hns10 = "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"0102030405060708\","
                        "\"TransactionID\":5,\"MessageType\":\"HomeNSReq\",\"DevEUI\":\"0102030405060708\"}";
    route_msg(&e, TOK_HOME, hns10);
    expect_result(e.r, "UnkownReceiver", NULL);
    assert_non_null(strstr(e.r->body, "\"MessageType\":\"HomeNSAns\""));
    assert_null(strstr(e.r->body, "NSID"));
    /* not JSON, no header: 400 plain text (and nothing left over from a
     * reply record that held garbage: the HTTP shell mallocs it) */
    memset(e.r, 0xA5, sizeof(*e.r));
    route_msg(&e, TOK_HOME, "{\"MessageType\":\"JoinReq\"");
    assert_int_equal(e.r->http_status, 400);
    assert_string_equal(e.r->content_type, "text/plain");
    assert_false(e.r->has_type);
    assert_false(e.r->has_result);
    assert_string_equal(e.r->sender, "");
    assert_true(e.r->forward_seconds == 0);
    route_msg(&e, TOK_HOME, "{\"MessageType\":\"JoinReq\",\"SenderID\":\"000013\"}");
    assert_int_equal(e.r->http_status, 400);
    assert_non_null(strstr(e.r->body, "ReceiverID"));
    route_msg(&e, TOK_HOME, "{\"MessageType\":\"Hello\",\"SenderID\":\"000013\",\"ReceiverID\":\"000013\",\"TransactionID\":1}");
    assert_int_equal(e.r->http_status, 400);
    /* a JoinReq addressed to a NetID: Malformed */
    const char *bad_rcv = "{\"ProtocolVersion\":\"1.1\",\"SenderID\":\"000013\",\"ReceiverID\":\"000014\","
                          "\"TransactionID\":5,\"MessageType\":\"JoinReq\"}";
    route_msg(&e, TOK_HOME, bad_rcv);
    expect_result(e.r, "MalformedMessage", "ReceiverID");
    /* a bad version: InvalidProtocolVersion, answered as 1.0 */
    const char *bad_ver = "{\"ProtocolVersion\":\"2.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57E00000001\","
                          "\"TransactionID\":5,\"MessageType\":\"HomeNSReq\"}";
    route_msg(&e, TOK_HOME, bad_ver);
    expect_result(e.r, "InvalidProtocolVersion", NULL);
    /* too large */
    char *big = malloc(BI_BODY_MAX + 2);
    memset(big, ' ', BI_BODY_MAX + 1);
    big[BI_BODY_MAX + 1] = '\0';
    route_msg(&e, TOK_HOME, big);
    free(big);
    assert_int_equal(e.r->http_status, 413);
    assert_int_equal(e.f.calls, 0);
    env_close(&e);
}

static void test_async_answers(void **state)
{
    (void)state;
    env e;
    env_open(&e);
    e.f.answer = "";
    /* an answer sent asynchronously by 000014 to 000013 goes by NetID */
    const char *ans = "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\","
                      "\"TransactionID\":9,\"MessageType\":\"XmitDataAns\",\"Result\":{\"ResultCode\":\"Success\"}}";
    route_msg(&e, TOK_VISITED, ans);
    assert_int_equal(e.f.calls, 1);
    assert_string_equal(e.f.url, "http://ns13.invalid/bi");
    assert_string_equal(e.f.bearer, TOK_NS13);
    assert_int_equal(e.r->http_status, 200);
    /* ... refusals of an answer are plain HTTP errors */
    route_msg(&e, TOK_HOME, ans);
    assert_int_equal(e.r->http_status, 403);
    const char *to_unknown = "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000013\",\"ReceiverID\":\"000099\","
                             "\"TransactionID\":9,\"MessageType\":\"PRStartAns\",\"Result\":{\"ResultCode\":\"Success\"}}";
    route_msg(&e, TOK_HOME, to_unknown);
    assert_int_equal(e.r->http_status, 404);
    e.f.answer = NULL;
    route_msg(&e, TOK_VISITED, ans);
    assert_int_equal(e.r->http_status, 502);
    /* a PRStartReq from 000014 to 000013, synchronously */
    e.f.answer = "{}";
    const char *pr = "{\"ProtocolVersion\":\"1.0\",\"SenderID\":\"000014\",\"ReceiverID\":\"000013\","
                     "\"TransactionID\":10,\"MessageType\":\"PRStartReq\",\"PHYPayload\":\"00\",\"ULMetaData\":{}}";
    route_msg(&e, TOK_VISITED, pr);
    assert_int_equal(e.f.calls, 3);
    assert_int_equal(e.r->http_status, 200);
    assert_string_equal(e.r->body, "{}");
    assert_non_null(strstr(e.r->note, "not a BI message"));
    env_close(&e);
}

static void test_metrics(void **state)
{
    (void)state;
    env e;
    env_open(&e);
    e.f.answer = JOIN_ANS;
    route_msg(&e, TOK_HOME, JOIN_REQ);
    hub_metrics_observe(e.ctx, e.r, 0.001);
    route_msg(&e, "nope", JOIN_REQ);
    hub_metrics_observe(e.ctx, e.r, 0.001);
    char out[65536];
    size_t n = 0;
    assert_int_equal(hub_metrics_render(e.ctx, out, sizeof(out), &n), HUB_OK);
    out[n] = '\0';
    assert_non_null(strstr(out, "ferry_hub_messages_total{type=\"JoinReq\",outcome=\"forwarded\",result=\"Success\"} 1"));
    assert_non_null(strstr(out, "ferry_hub_messages_total{type=\"JoinReq\",outcome=\"unknown_sender\",result=\"UnknownSender\"} 1"));
    assert_non_null(strstr(out, "ferry_hub_http_responses_total{code=\"2xx\"} 2"));
    assert_non_null(strstr(out, "ferry_hub_forward_duration_seconds_count 1"));
    assert_null(strstr(out, "000013"));
    assert_null(strstr(out, WRAPPED));
    assert_int_equal(hub_metrics_render(e.ctx, out, 64, &n), HUB_ERR_ARGUMENT);
    env_close(&e);
}

static void test_token_generate(void **state)
{
    (void)state;
    char a[65], b[65];
    uint8_t ha[HUB_HASH_LEN], hb[HUB_HASH_LEN], check[HUB_HASH_LEN];
    assert_int_equal(hub_token_generate(a, ha), HUB_OK);
    assert_int_equal(hub_token_generate(b, hb), HUB_OK);
    assert_int_equal(strlen(a), 64);
    assert_string_not_equal(a, b);
    hub_sha256(a, 64, check);
    assert_memory_equal(check, ha, HUB_HASH_LEN);
    /* SHA-256("abc"), FIPS 180-2 */
    uint8_t want[32];
    tu_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, sizeof(want));
    hub_sha256("abc", 3, check);
    assert_memory_equal(check, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_auth_and_sender_binding),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_async_answers),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_token_generate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
