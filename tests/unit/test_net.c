/*
 * test_net.c - the server layer (src/net): listen addresses and the
 * plain-HTTP policy, strict JSON bodies, the configuration reader, log text,
 * bearer tokens, and a real server on 127.0.0.1 driven over real sockets:
 * routes, body limit, per-IP connection limit, the receive deadline against a
 * client that dribbles its headers, and every access-log line parsing as
 * JSON after hostile paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <mbedtls/sha256.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net_addr.h"
#include "net/net_cert.h"
#include "net/net_client.h"
#include "net/net_config.h"
#include "net/net_json.h"
#include "net/net_log.h"
#include "net/net_server.h"
#include "net/net_token.h"

/* ---------------------------------------------------------------- addresses */

static void test_addr_parse(void **state)
{
    (void)state;
    char err[NET_ERR_MAX];
    net_addr a;
    assert_int_equal(net_addr_parse("127.0.0.1:17141", &a, err), NET_OK);
    assert_int_equal(a.port, 17141);
    assert_true(a.loopback);
    assert_false(a.v6);
    assert_int_equal(net_addr_parse("[::1]:0", &a, err), NET_OK);
    assert_true(a.v6 && a.loopback);
    assert_int_equal(a.port, 0);
    assert_int_equal(net_addr_parse("0.0.0.0:443", &a, err), NET_OK);
    assert_false(a.loopback);
    assert_int_equal(net_addr_parse("127.0.0.2:1", &a, err), NET_OK);
    assert_true(a.loopback);
    const char *bad[] = {"127.0.0.1:17141x", "127.0.0.1:", ":80", "127.0.0.1:65536", "127.0.0.1:-1",
                         "localhost:80", "127.0.0.1", "[::1:80", "::1:80x", "127.0.0.1:0080000", "", "1.2.3:80",
                         "127.0.0.1: 80", "[127.0.0.1]:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (net_addr_parse(bad[i], &a, err) != NET_ERR_ARGUMENT)
            fail_msg("\"%s\" was accepted", bad[i]);
        if (strstr(err, ":PORT") == NULL && strstr(err, "numeric") == NULL)
            fail_msg("\"%s\": unclear error \"%s\"", bad[i], err);
    }
}

static void test_url_policy(void **state)
{
    (void)state;
    char err[NET_ERR_MAX];
    assert_true(net_url_is_loopback("http://127.0.0.1:8080/api"));
    assert_true(net_url_is_loopback("http://[::1]:8080/"));
    assert_true(net_url_is_loopback("http://localhost/x"));
    assert_true(net_url_is_loopback("http://user@127.1.2.3/"));
    assert_false(net_url_is_loopback("http://127.0.0.1.evil.example/"));
    assert_false(net_url_is_loopback("http://example.com/127.0.0.1"));
    assert_false(net_url_is_loopback("http://127.0.0.1@example.com/"));
    assert_int_equal(net_url_check("http://127.0.0.1:1/x", true, err), NET_OK);
    assert_int_equal(net_url_check("https://js.example.com/api", true, err), NET_OK);
    assert_int_equal(net_url_check("http://js.example.com/api", false, err), NET_OK);
    assert_int_equal(net_url_check("http://js.example.com/api", true, err), NET_ERR_POLICY);
    assert_non_null(strstr(err, "https://"));
    assert_int_equal(net_url_check("ftp://127.0.0.1/", false, err), NET_ERR_ARGUMENT);
    assert_int_equal(net_url_check("http://", false, err), NET_ERR_ARGUMENT);
    assert_int_equal(net_url_check("http://127.0.0.1/a b", false, err), NET_ERR_ARGUMENT);
    assert_int_equal(net_url_check("http://127.0.0.1/a\r\nX: y", false, err), NET_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- JSON */

static void test_utf8(void **state)
{
    (void)state;
    struct {
        const char *s;
        size_t bad_at; /* SIZE_MAX: valid */
    } cases[] = {
        {"plain", SIZE_MAX},
        {"caf\xc3\xa9", SIZE_MAX},
        {"\xe2\x82\xac and \xf0\x9f\x98\x80", SIZE_MAX},
        {"ab\xff", 2},
        {"\xc0\xaf", 0},            /* overlong '/' */
        {"\xe0\x80\xaf", 0},        /* overlong */
        {"x\xed\xa0\x80", 1},       /* surrogate */
        {"\xf4\x90\x80\x80", 0},    /* above U+10FFFF */
        {"ok\xc3", 2},              /* cut short */
        {"\xe2\x82", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].s);
        size_t want = cases[i].bad_at == SIZE_MAX ? n : cases[i].bad_at;
        assert_int_equal(net_utf8_invalid_at((const unsigned char *)cases[i].s, n), want);
    }
}

static void test_json_parse(void **state)
{
    (void)state;
    char why[NET_ERR_MAX];
    json_t *doc = NULL;
    const char ok[] = "{\"a\":1,\"b\":{\"c\":\"\xc3\xa9\"}}";
    assert_int_equal(net_json_parse(ok, strlen(ok), 0, &doc, why), NET_OK);
    assert_int_equal(json_integer_value(json_object_get(doc, "a")), 1);
    json_decref(doc);

    const char dup[] = "{\"DevEUI\":\"0000000000000001\",\"DevEUI\":\"0000000000000002\"}";
    assert_int_equal(net_json_parse(dup, strlen(dup), 0, &doc, why), NET_ERR_ARGUMENT);
    assert_null(doc);
    assert_non_null(strstr(why, "duplicate"));

    const char nested_dup[] = "{\"x\":[{\"k\":1,\"k\":2}]}";
    assert_int_equal(net_json_parse(nested_dup, strlen(nested_dup), 0, &doc, why), NET_ERR_ARGUMENT);

    const char bad_utf8[] = "{\"a\":\"\xff\"}";
    assert_int_equal(net_json_parse(bad_utf8, strlen(bad_utf8), 0, &doc, why), NET_ERR_ARGUMENT);
    assert_string_equal(why, "body: invalid UTF-8 at byte 6");

    const char with_nul[] = "{\"a\":1}\0{}";
    assert_int_equal(net_json_parse(with_nul, sizeof(with_nul) - 1, 0, &doc, why), NET_ERR_ARGUMENT);
    assert_string_equal(why, "body: a NUL byte at byte 7");

    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(net_json_parse(deep, sizeof(deep), 0, &doc, why), NET_ERR_LIMIT);
    assert_non_null(strstr(why, "deeper"));

    const char trailing[] = "{} {}";
    assert_int_equal(net_json_parse(trailing, strlen(trailing), 0, &doc, why), NET_ERR_ARGUMENT);
    assert_int_equal(net_json_parse("", 0, 0, &doc, why), NET_ERR_ARGUMENT);
}

/* ---------------------------------------------------------------- config */

static char *temp_file(const void *text, size_t len)
{
    char *path = strdup("/tmp/ferry-test-net-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

typedef struct seen {
    char keys[8][32];
    char values[8][64];
    unsigned lines[8];
    int n;
    const char *refuse; /* a key the callback refuses */
} seen;

static bool take_key(void *user, const char *key, const char *value, unsigned line, char err[NET_ERR_MAX])
{
    seen *s = user;
    if (s->refuse != NULL && strcmp(key, s->refuse) == 0) {
        snprintf(err, NET_ERR_MAX, "line %u: %s refused", line, key);
        return false;
    }
    if (s->n < 8) {
        snprintf(s->keys[s->n], 32, "%s", key);
        snprintf(s->values[s->n], 64, "%s", value);
        s->lines[s->n] = line;
        s->n++;
    }
    return true;
}

static void test_config_read(void **state)
{
    (void)state;
    char err[NET_ERR_MAX];
    const char good[] = "# a comment\n\n  listen = 127.0.0.1:1 \nname=a # not a comment\r\nempty =\nlast = x";
    char *p = temp_file(good, sizeof(good) - 1);
    seen s = {0};
    assert_int_equal(net_config_read(p, take_key, &s, err), NET_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.keys[0], "listen");
    assert_string_equal(s.values[0], "127.0.0.1:1");
    assert_int_equal(s.lines[0], 3);
    assert_string_equal(s.values[1], "a # not a comment");
    assert_string_equal(s.values[2], "");
    assert_string_equal(s.values[3], "x");
    s = (seen){.refuse = "name"};
    assert_int_equal(net_config_read(p, take_key, &s, err), NET_ERR_ARGUMENT);
    assert_string_equal(err, "line 4: name refused");
    unlink(p);
    free(p);

    const char no_eq[] = "listen 127.0.0.1:1\n";
    p = temp_file(no_eq, sizeof(no_eq) - 1);
    s = (seen){0};
    assert_int_equal(net_config_read(p, take_key, &s, err), NET_ERR_ARGUMENT);
    assert_non_null(strstr(err, "line 1: expected key = value"));
    unlink(p);
    free(p);

    const char nul[] = "a = b\0c = d\ne = f\n";
    p = temp_file(nul, sizeof(nul) - 1);
    s = (seen){0};
    assert_int_equal(net_config_read(p, take_key, &s, err), NET_ERR_ARGUMENT);
    assert_non_null(strstr(err, "a NUL byte"));
    unlink(p);
    free(p);

    char *longl = malloc(NET_CONFIG_LINE_MAX + 100);
    memset(longl, 'x', NET_CONFIG_LINE_MAX + 99);
    memcpy(longl, "k = ", 4);
    longl[NET_CONFIG_LINE_MAX + 99] = '\n';
    p = temp_file(longl, NET_CONFIG_LINE_MAX + 100);
    s = (seen){0};
    assert_int_equal(net_config_read(p, take_key, &s, err), NET_ERR_LIMIT);
    assert_non_null(strstr(err, "longer than"));
    assert_int_equal(s.n, 0); /* nothing cut and taken */
    unlink(p);
    free(p);
    free(longl);

    assert_int_equal(net_config_read("/nonexistent/ferry.conf", take_key, &s, err), NET_ERR_IO);
}

static void test_config_secret(void **state)
{
    (void)state;
    char err[NET_ERR_MAX], out[16];
    char *p = temp_file(" s3cret \nsecond line\n", 21);
    assert_int_equal(net_config_read_secret(p, out, sizeof(out), err), NET_OK);
    assert_string_equal(out, "s3cret");
    unlink(p);
    free(p);
    p = temp_file("0123456789abcdefXYZ\n", 20);
    assert_int_equal(net_config_read_secret(p, out, sizeof(out), err), NET_ERR_LIMIT);
    unlink(p);
    free(p);
    p = temp_file("\n", 1);
    assert_int_equal(net_config_read_secret(p, out, sizeof(out), err), NET_ERR_ARGUMENT);
    unlink(p);
    free(p);
}

/* ---------------------------------------------------------------- logs, tokens */

static void test_log_text(void **state)
{
    (void)state;
    json_t *t = net_log_text("ok", 2, 10);
    assert_string_equal(json_string_value(t), "ok");
    json_decref(t);
    t = net_log_text("\xff\x01", 2, 10);
    assert_string_equal(json_string_value(t), "hex:ff01");
    json_decref(t);
    t = net_log_text("abcdefghij", 10, 4);
    assert_string_equal(json_string_value(t), "abcd...(6 bytes more)");
    json_decref(t);
    t = net_log_text("\"}\n{\"level\":\"fake\"", 19, 64); /* quotes and a newline are escaped, not cut */
    char *line = json_dumps(t, JSON_ENCODE_ANY);
    assert_null(strchr(line, '\n'));
    free(line);
    json_decref(t);
}

static void test_tokens(void **state)
{
    (void)state;
    uint8_t h[32];
    assert_int_equal(mbedtls_sha256_ret((const unsigned char *)"tok", 3, h, 0), 0);
    assert_true(net_token_matches("tok", h));
    assert_false(net_token_matches("tok ", h));
    assert_false(net_token_matches(NULL, h));
    assert_string_equal(net_bearer_of("Bearer tok"), "tok");
    assert_string_equal(net_bearer_of("bearer   tok"), "tok");
    assert_null(net_bearer_of("Basic dG9rCg=="));
    assert_null(net_bearer_of("Bearer "));
    assert_null(net_bearer_of(NULL));
}

/* ---------------------------------------------------------------- a real server */

typedef struct fixture {
    net_server *srv;
    unsigned port;
    char log_path[64];
    int saved_stderr;
} fixture;

static void echo(void *user, const net_request *rq, net_reply *rp)
{
    (void)user;
    if (strcmp(rq->path, "/slow") == 0) { /* a request still being answered when the stop comes */
        usleep(600 * 1000);
        net_reply_copy(rp, 200, "text/plain", "done", 4);
        return;
    }
    if (strcmp(rq->path, "/echo") == 0) {
        json_t *o = json_pack("{s:s,s:I,s:b}", "method", rq->method, "len", (json_int_t)rq->len, "bearer",
                              rq->bearer != NULL);
        json_object_set_new(rp->log, "handler", json_string("echo"));
        net_reply_json(rp, 200, o);
        return;
    }
    net_reply_error(rp, 404, "no such resource");
}

static size_t small_for_tiny(void *user, const char *method, const char *path)
{
    (void)user;
    (void)method;
    return strcmp(path, "/tiny") == 0 ? 8 : 0;
}

static void start(fixture *f, const char *name, unsigned per_ip, unsigned request_s)
{
    /* the server's log lines go to a file the test reads back */
    snprintf(f->log_path, sizeof(f->log_path), "/tmp/ferry-test-net-%s-%d.log", name, (int)getpid());
    fflush(stderr);
    f->saved_stderr = dup(2);
    int fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
    net_server_opts o = {.service = "test", .listen = "127.0.0.1:0", .threads = 2,
                         .limits = {.conn_per_ip = per_ip, .request_s = request_s, .body_max = 1024},
                         .handle = echo, .body_max = small_for_tiny};
    char err[NET_ERR_MAX];
    assert_int_equal(net_server_start(&o, &f->srv, err), NET_OK);
    f->port = net_server_port(f->srv);
    assert_true(f->port > 0);
}

static void stop(fixture *f)
{
    net_server_stop(f->srv);
    fflush(stderr);
    dup2(f->saved_stderr, 2);
    close(f->saved_stderr);
}

static int dial(unsigned port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

/* Sends raw bytes, reads the whole answer (until the server closes or 5 s). */
static size_t exchange(unsigned port, const char *req, size_t len, char *out, size_t cap)
{
    int s = dial(port);
    assert_int_equal(send(s, req, len, 0), (ssize_t)len);
    size_t n = 0;
    struct pollfd p = {.fd = s, .events = POLLIN};
    while (n + 1 < cap && poll(&p, 1, 5000) == 1) {
        ssize_t r = recv(s, out + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(s);
    return n;
}

/* True when the server closed s within seconds (recv gives 0 or an error). */
static bool closed_within(int s, int seconds)
{
    struct pollfd p = {.fd = s, .events = POLLIN};
    for (int waited = 0; waited < seconds * 10; waited++) {
        if (poll(&p, 1, 100) == 1) {
            char b[256];
            ssize_t r = recv(s, b, sizeof(b), 0);
            if (r <= 0)
                return true;
        }
    }
    return false;
}

static void test_server_routes_and_body_limit(void **state)
{
    (void)state;
    fixture f;
    start(&f, "routes", 0, 0);
    net_client *c = NULL;
    assert_int_equal(net_client_new(&c), NET_OK);
    char url[128], buf[2048], err[NET_ERR_MAX];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", f.port);
    net_answer a = {.body = buf, .cap = sizeof(buf)};
    net_call call = {.url = url, .bearer = "t0k", .body = "{\"x\":1}", .len = 7};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_OK);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(buf, "\"len\":7"));
    assert_non_null(strstr(buf, "\"bearer\":true"));

    /* the body limit of the server, then the smaller one of a route */
    char *big = malloc(2000);
    memset(big, 'a', 2000);
    call = (net_call){.url = url, .body = big, .len = 2000};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_OK);
    assert_int_equal(a.status, 413);
    assert_non_null(strstr(buf, "body too large: at most 1024 bytes"));
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/tiny", f.port);
    call = (net_call){.url = url, .body = big, .len = 9};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_OK);
    assert_int_equal(a.status, 413);
    free(big);

    /* an answer larger than the caller's buffer is an error, not a cut */
    char small[8];
    net_answer sa = {.body = small, .cap = sizeof(small)};
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", f.port);
    call = (net_call){.url = url};
    assert_int_equal(net_client_call(c, &call, &sa, err), NET_ERR_LIMIT);
    assert_non_null(strstr(err, "longer than 7 bytes"));

    /* a bearer token over plain HTTP off loopback never leaves */
    call = (net_call){.url = "http://192.0.2.1:9/x", .bearer = "secret"};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_ERR_POLICY);

    net_stats st;
    net_server_stats(f.srv, &st);
    assert_int_equal(st.body_too_large, 2);
    assert_int_equal(st.requests, 4);
    net_client_free(c);
    stop(&f);
    unlink(f.log_path);
}

static void test_server_per_ip_limit(void **state)
{
    (void)state;
    fixture f;
    start(&f, "per-ip", 3, 0);
    int held[3];
    for (int i = 0; i < 3; i++)
        held[i] = dial(f.port);
    usleep(200 * 1000);
    int extra = dial(f.port); /* accepted by the kernel, shut at once by the server */
    assert_true(closed_within(extra, 5));
    close(extra);
    net_stats st;
    net_server_stats(f.srv, &st);
    assert_int_equal(st.refused_per_ip, 1);
    assert_int_equal(st.open, 3);
    char text[4096];
    size_t tn = 0;
    assert_int_equal(net_server_metrics(f.srv, text, sizeof(text), &tn), NET_OK);
    assert_non_null(strstr(text, "ferry_http_refused_total{service=\"test\",limit=\"conn_per_ip\"} 1\n"));
    assert_non_null(strstr(text, "ferry_http_connections{service=\"test\"} 3\n"));
    tn = 0;
    assert_int_equal(net_server_metrics(f.srv, text, 100, &tn), NET_ERR_LIMIT);
    assert_int_equal(tn, 0);
    for (int i = 0; i < 3; i++)
        close(held[i]);
    /* the slots come back */
    char buf[1024];
    const char req[] = "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int tries = 0; tries < 50; tries++) {
        net_server_stats(f.srv, &st);
        if (st.open == 0)
            break;
        usleep(100 * 1000);
    }
    exchange(f.port, req, sizeof(req) - 1, buf, sizeof(buf));
    assert_non_null(strstr(buf, "200 OK"));
    stop(&f);
    unlink(f.log_path);
}

static void test_server_deadline(void **state)
{
    (void)state;
    fixture f;
    start(&f, "deadline", 0, 2);
    /* a client that sends its headers a few bytes at a time, forever */
    int s = dial(f.port);
    const char part[] = "GET /echo HTTP/1.1\r\nX-Slow: ";
    assert_int_equal(send(s, part, sizeof(part) - 1, 0), (ssize_t)(sizeof(part) - 1));
    bool cut = false;
    for (int i = 0; i < 60 && !cut; i++) { /* 6 s at most: the deadline is 2 s */
        if (send(s, "a", 1, MSG_NOSIGNAL) != 1)
            cut = true;
        else
            cut = closed_within(s, 0) || (usleep(100 * 1000), false);
    }
    if (!cut)
        cut = closed_within(s, 1);
    assert_true(cut);
    close(s);
    net_stats st;
    net_server_stats(f.srv, &st);
    assert_int_equal(st.cut_deadline, 1);
    stop(&f);
    unlink(f.log_path);
}

static void test_server_log_lines_parse(void **state)
{
    (void)state;
    fixture f;
    start(&f, "hostile", 0, 0);
    const char *hostile[] = {
        "GET /a%22%7D%0A%7B%22level%22:%22fake HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /%FF%FE%00x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /\x1b[31mred HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\"}\n{]",
    };
    char buf[2048];
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
        exchange(f.port, hostile[i], strlen(hostile[i]), buf, sizeof(buf));
    stop(&f);
    FILE *log = fopen(f.log_path, "r");
    assert_non_null(log);
    char line[8192];
    int lines = 0, requests = 0;
    while (fgets(line, sizeof(line), log) != NULL) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (o == NULL)
            fail_msg("log line %d is not JSON (%s): %s", lines + 1, je.text, line);
        assert_string_equal(json_string_value(json_object_get(o, "service")), "test");
        assert_string_not_equal(json_string_value(json_object_get(o, "level")), "fake");
        /* libmicrohttpd's own messages come through our logger, none about its set-up */
        assert_null(strstr(line, "not the first option"));
        if (strcmp(json_string_value(json_object_get(o, "msg")), "request") == 0)
            requests++;
        json_decref(o);
        lines++;
    }
    fclose(log);
    unlink(f.log_path);
    assert_true(requests >= 3); /* the server may refuse a request line it cannot parse, unlogged by us */
}

/* A private CA and a server certificate for 127.0.0.1 it signed, made with
 * the openssl command (scripts/deps.sh installs it) in dir. */
static void make_private_ca(const char *dir)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt "
             "-days 2 -subj /CN=ferry-test-private-ca 2>/dev/null && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr "
             "-subj /CN=127.0.0.1 2>/dev/null && "
             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 "
             "-extfile ext 2>/dev/null",
             dir);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *b = calloc(1, 65537);
    size_t n = fread(b, 1, 65536, f);
    fclose(f);
    b[n] = '\0';
    return b;
}

/* The client trusts a private CA given as PEM text (a customer Join Server's,
 * from the database) or a file, and nothing else: the system's CAs do not
 * know it. */
static void test_client_private_ca(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-test-net-ca-XXXXXX";
    assert_non_null(mkdtemp(dir));
    make_private_ca(dir);
    char cert[128], key[128], ca_path[128], err[NET_ERR_MAX];
    snprintf(cert, sizeof(cert), "%s/srv.crt", dir);
    snprintf(key, sizeof(key), "%s/srv.key", dir);
    snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
    net_server_opts o = {.service = "test-tls", .listen = "127.0.0.1:0", .tls = {.cert = cert, .key = key},
                         .handle = echo};
    net_server *srv = NULL;
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2); /* the server's log lines: not this test's business */
    close(null);
    assert_int_equal(net_server_start(&o, &srv, err), NET_OK);
    char url[128], buf[1024];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", net_server_port(srv));
    char *ca = slurp(ca_path);
    net_client *c = NULL;
    assert_int_equal(net_client_new(&c), NET_OK);
    net_answer a = {.body = buf, .cap = sizeof(buf)};
    net_call call = {.url = url, .bearer = "t0k", .body = "{}", .len = 2, .ca_pem = ca};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_OK);
    assert_int_equal(a.status, 200);
    call = (net_call){.url = url, .bearer = "t0k", .body = "{}", .len = 2, .ca_file = ca_path};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_OK);
    assert_int_equal(a.status, 200);
    call = (net_call){.url = url, .bearer = "t0k", .body = "{}", .len = 2};
    assert_int_equal(net_client_call(c, &call, &a, err), NET_ERR_IO); /* unknown issuer: nothing sent */
    /* the TLS policy (net_tls.h), seen by an independent client: 1.2 with
     * ECDHE-AEAD and 1.3 in, 1.0, 1.1 and CBC suites out */
    static const struct {
        const char *args;
        bool ok;
    } tries[] = {
        {"-tls1_3", true},
        {"-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256", true},
        {"-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305", true},
        {"-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA", false},
        {"-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384", false},
        {"-tls1_1 -cipher DEFAULT@SECLEVEL=0", false},
        {"-tls1 -cipher DEFAULT@SECLEVEL=0", false},
    };
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd),
                 "openssl s_client -connect 127.0.0.1:%u %s -CAfile %s </dev/null >/dev/null 2>&1",
                 net_server_port(srv), tries[i].args, ca_path);
        int rc = system(cmd);
        if ((rc == 0) != tries[i].ok)
            fail_msg("openssl s_client %s: %s, expected %s", tries[i].args, rc == 0 ? "handshake" : "refused",
                     tries[i].ok ? "a handshake" : "a refusal");
    }
    net_client_free(c);
    net_server_stop(srv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char pem_err[128];
    assert_true(net_cert_pem_ok(ca, strlen(ca), 4, pem_err, sizeof(pem_err)));
    assert_false(net_cert_pem_ok("not a certificate", 17, 4, pem_err, sizeof(pem_err)));
    free(ca);
    char rm[256];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

typedef struct slow_call {
    unsigned port;
    net_status st;
    unsigned status;
} slow_call;

static void *slow_run(void *arg)
{
    slow_call *sc = arg;
    net_client *c = NULL;
    if (net_client_new(&c) != NET_OK)
        return NULL;
    char url[128], buf[64], err[NET_ERR_MAX];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/slow", sc->port);
    net_answer a = {.body = buf, .cap = sizeof(buf)};
    net_call call = {.url = url};
    sc->st = net_client_call(c, &call, &a, err);
    sc->status = a.status;
    net_client_free(c);
    return NULL;
}

/* A stop while a request is being answered: it finishes, then the server
 * closes; a new connection after the stop began is not accepted. */
static void test_server_graceful_stop(void **state)
{
    (void)state;
    fixture f;
    start(&f, "graceful", 0, 0);
    slow_call sc = {.port = f.port, .st = NET_ERR_IO};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_run, &sc), 0);
    usleep(200 * 1000); /* the request is in the handler */
    stop(&f);
    pthread_join(t, NULL);
    assert_int_equal(sc.st, NET_OK);
    assert_int_equal(sc.status, 200);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0); /* closed */
    close(s);
    unlink(f.log_path);
}

typedef struct hammer {
    unsigned port;
    const char *ca_a, *ca_b; /* either may verify the server: before and after the reload */
    volatile bool stop;
    unsigned ok, failed;
} hammer;

/* Requests one after the other, each on a fresh connection, until stop. */
static void *hammer_run(void *arg)
{
    hammer *h = arg;
    net_client *c = NULL;
    if (net_client_new(&c) != NET_OK)
        return NULL;
    char url[128], buf[512], err[NET_ERR_MAX];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", h->port);
    while (!h->stop) {
        net_answer a = {.body = buf, .cap = sizeof(buf)};
        /* the CA that signed what the server serves now: try the old one, then the new */
        net_call call = {.url = url, .body = "{}", .len = 2, .ca_pem = h->ca_a};
        net_status st = net_client_call(c, &call, &a, err);
        if (st != NET_OK) {
            call.ca_pem = h->ca_b;
            st = net_client_call(c, &call, &a, err);
        }
        if (st == NET_OK && a.status == 200)
            h->ok++;
        else
            h->failed++;
        net_client_free(c); /* a new connection each time: each sees the daemon in place */
        if (net_client_new(&c) != NET_OK)
            break;
    }
    net_client_free(c);
    return NULL;
}

/* Certificates replaced while requests flow: none fails; a corrupt key
 * leaves the certificate in place and the error names the file. */
static void test_server_reload(void **state)
{
    (void)state;
    char a_dir[] = "/tmp/ferry-test-net-ra-XXXXXX", b_dir[] = "/tmp/ferry-test-net-rb-XXXXXX";
    assert_non_null(mkdtemp(a_dir));
    assert_non_null(mkdtemp(b_dir));
    make_private_ca(a_dir);
    make_private_ca(b_dir);
    char cert_a[128], key_a[128], cert_b[128], key_b[128], p[128], err[NET_ERR_MAX];
    snprintf(cert_a, sizeof(cert_a), "%s/srv.crt", a_dir);
    snprintf(key_a, sizeof(key_a), "%s/srv.key", a_dir);
    snprintf(cert_b, sizeof(cert_b), "%s/srv.crt", b_dir);
    snprintf(key_b, sizeof(key_b), "%s/srv.key", b_dir);
    snprintf(p, sizeof(p), "%s/ca.crt", a_dir);
    char *ca_a = slurp(p);
    snprintf(p, sizeof(p), "%s/ca.crt", b_dir);
    char *ca_b = slurp(p);
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    close(null);
    net_server_opts o = {.service = "test-reload", .listen = "127.0.0.1:0", .threads = 2,
                         .tls = {.cert = cert_a, .key = key_a}, .handle = echo};
    net_server *srv = NULL;
    assert_int_equal(net_server_start(&o, &srv, err), NET_OK);
    hammer h = {.port = net_server_port(srv), .ca_a = ca_a, .ca_b = ca_b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hammer_run, &h), 0);
    usleep(300 * 1000);
    net_tls b = {.cert = cert_b, .key = key_b};
    assert_int_equal(net_server_reload(srv, &b, err), NET_OK);
    usleep(300 * 1000);
    /* a key that is not a key: refused, B goes on serving */
    char bad_key[128];
    snprintf(bad_key, sizeof(bad_key), "%s/bad.key", b_dir);
    FILE *f = fopen(bad_key, "w");
    fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    net_tls corrupt = {.cert = cert_b, .key = bad_key};
    assert_int_equal(net_server_reload(srv, &corrupt, err), NET_ERR_TLS);
    assert_non_null(strstr(err, bad_key));
    net_tls missing = {.cert = cert_b, .key = "/nonexistent/srv.key"};
    assert_int_equal(net_server_reload(srv, &missing, err), NET_ERR_TLS);
    assert_non_null(strstr(err, "/nonexistent/srv.key"));
    usleep(300 * 1000);
    h.stop = true;
    pthread_join(t, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_true(h.ok > 5);
    assert_int_equal(h.failed, 0);
    /* after the reload only B's CA verifies the server */
    net_client *c = NULL;
    assert_int_equal(net_client_new(&c), NET_OK);
    char url[128], buf[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", net_server_port(srv));
    net_answer an = {.body = buf, .cap = sizeof(buf)};
    net_call call = {.url = url, .ca_pem = ca_a};
    assert_int_equal(net_client_call(c, &call, &an, err), NET_ERR_IO);
    call.ca_pem = ca_b;
    assert_int_equal(net_client_call(c, &call, &an, err), NET_OK);
    net_client_free(c);
    net_stats st;
    net_server_stats(srv, &st);
    assert_int_equal(st.reloads, 1);
    char text[4096];
    size_t tn = 0;
    assert_int_equal(net_server_metrics(srv, text, sizeof(text), &tn), NET_OK);
    assert_non_null(strstr(text, "ferry_http_tls_reloads_total{service=\"test-reload\"} 1\n"));
    net_server_stop(srv);
    free(ca_a);
    free(ca_b);
    char rm[256];
    snprintf(rm, sizeof(rm), "rm -rf %s %s", a_dir, b_dir);
    assert_int_equal(system(rm), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse),
        cmocka_unit_test(test_url_policy),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_json_parse),
        cmocka_unit_test(test_config_read),
        cmocka_unit_test(test_config_secret),
        cmocka_unit_test(test_log_text),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_server_routes_and_body_limit),
        cmocka_unit_test(test_server_per_ip_limit),
        cmocka_unit_test(test_server_deadline),
        cmocka_unit_test(test_server_log_lines_parse),
        cmocka_unit_test(test_client_private_ca),
        cmocka_unit_test(test_server_reload),
        cmocka_unit_test(test_server_graceful_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
