/*
 * lab_gw.c - the simulated gateway (see lab_gw.h).
 */
#include "lab/lab_gw.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

lab_status lab_addr_parse(const char *text, struct sockaddr_storage *out, unsigned *len)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host) || colon[1] == 0)
        return LAB_ERR_ARGUMENT;
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return LAB_ERR_ARGUMENT;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    return LAB_OK;
}

lab_status lab_gw_open(lab_gw *gw, const char *ns_addr, uint64_t eui)
{
    memset(gw, 0, sizeof(*gw));
    gw->fd = -1;
    struct sockaddr_storage sa;
    unsigned sl = 0;
    if (lab_addr_parse(ns_addr, &sa, &sl) != LAB_OK)
        return LAB_ERR_ARGUMENT;
    gw->fd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (gw->fd < 0 || connect(gw->fd, (struct sockaddr *)&sa, sl) != 0) {
        lab_gw_close(gw);
        return LAB_ERR_IO;
    }
    gw->eui = eui;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    gw->token = (uint16_t)(ts.tv_nsec ^ (long)getpid());
    return LAB_OK;
}

void lab_gw_close(lab_gw *gw)
{
    if (gw->fd >= 0)
        close(gw->fd);
    gw->fd = -1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static lab_status send_packet(lab_gw *gw, const lab_udp_packet *p)
{
    uint8_t d[4096];
    size_t n = 0;
    lab_status st = lab_udp_encode(p, d, sizeof(d), &n);
    if (st != LAB_OK)
        return st;
    return send(gw->fd, d, n, 0) == (ssize_t)n ? LAB_OK : LAB_ERR_IO;
}

static void queue_down(lab_gw *gw, const lab_txpk *tx, uint16_t token, lab_gw_down_kind kind)
{
    size_t at = (gw->head + gw->pending) % LAB_GW_PENDING;
    gw->down[at] = *tx;
    gw->down_token[at] = token;
    gw->down_kind[at] = kind;
    gw->pending++;
}

/* Handles one PULL_RESP: TX_ACK back (unless the caller answers it), txpk
 * kept. A full queue answers an error the forwarder protocol has for a
 * downlink it cannot take. A "no downlink" notice is kept, not answered. */
static void take_pull_resp(lab_gw *gw, const lab_udp_packet *p)
{
    lab_txpk tx;
    const char *ok = "{\"txpk_ack\":{\"error\":\"NONE\"}}";
    const char *bad = "{\"txpk_ack\":{\"error\":\"TX_FREQ\"}}";
    const char *full = "{\"txpk_ack\":{\"error\":\"COLLISION_PACKET\"}}";
    uint32_t tmst = 0;
    bool wait = false;
    bool room = gw->pending < LAB_GW_PENDING;
    if (lab_udp_txnone_parse(p->json, p->json_len, &tmst, &wait) == LAB_OK) {
        memset(&tx, 0, sizeof tx);
        tx.tmst = tmst;
        if (room)
            queue_down(gw, &tx, p->token, wait ? LAB_GW_WAIT : LAB_GW_NONE);
        else
            gw->down_refused++;
        return;
    }
    bool parsed = lab_udp_txpk_parse(p->json, p->json_len, &tx) == LAB_OK;
    const char *j = !parsed ? bad : room ? ok : full;
    if (!(parsed && room && gw->defer_ack)) {
        lab_udp_packet ack = {.token = p->token, .type = LAB_UDP_TX_ACK, .gateway_eui = gw->eui,
                              .json = (const uint8_t *)j, .json_len = strlen(j)};
        (void)send_packet(gw, &ack);
    }
    if (parsed && room)
        queue_down(gw, &tx, p->token, LAB_GW_DOWNLINK);
    else
        gw->down_refused++;
}

lab_status lab_gw_tx_ack(lab_gw *gw, uint16_t token, const char *error)
{
    char j[96];
    int n = snprintf(j, sizeof j, "{\"txpk_ack\":{\"error\":\"%s\"}}", error);
    if (n < 0 || (size_t)n >= sizeof j)
        return LAB_ERR_ARGUMENT;
    lab_udp_packet ack = {.token = token, .type = LAB_UDP_TX_ACK, .gateway_eui = gw->eui,
                          .json = (const uint8_t *)j, .json_len = (size_t)n};
    return send_packet(gw, &ack);
}

/* One datagram from the NS: PULL_RESPs queued, PUSH_ACKs counted. Returns
 * its type (LAB_UDP_TX_ACK, which a gateway never receives, when it was
 * unreadable) and token. */
static lab_udp_type take_datagram(lab_gw *gw, const uint8_t *d, size_t n, uint16_t *token)
{
    lab_udp_packet p;
    if (lab_udp_decode(d, n, &p) != LAB_OK)
        return LAB_UDP_TX_ACK;
    if (p.type == LAB_UDP_PULL_RESP)
        take_pull_resp(gw, &p);
    else if (p.type == LAB_UDP_PUSH_ACK)
        gw->push_acked++;
    *token = p.token;
    return p.type;
}

/* Receives until a datagram of `want` with `token` arrives (or, for
 * PULL_RESP, any one is pending). */
static lab_status wait_for(lab_gw *gw, lab_udp_type want, uint16_t token, int timeout_ms)
{
    uint64_t end = mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if (want == LAB_UDP_PULL_RESP && gw->pending > 0)
            return LAB_OK;
        uint64_t now = mono_ms();
        if (now >= end)
            return LAB_ERR_IO;
        struct pollfd pfd = {.fd = gw->fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(end - now));
        if (r <= 0)
            continue;
        uint8_t d[4096];
        ssize_t n = recv(gw->fd, d, sizeof(d), 0);
        if (n <= 0)
            continue;
        uint16_t got = 0;
        lab_udp_type t = take_datagram(gw, d, (size_t)n, &got);
        if (t == want && want != LAB_UDP_PULL_RESP && got == token)
            return LAB_OK;
    }
}

lab_status lab_gw_pull(lab_gw *gw, int timeout_ms)
{
    lab_udp_packet p = {.token = ++gw->token, .type = LAB_UDP_PULL_DATA, .gateway_eui = gw->eui};
    lab_status st = send_packet(gw, &p);
    return st == LAB_OK ? wait_for(gw, LAB_UDP_PULL_ACK, p.token, timeout_ms) : st;
}

lab_status lab_gw_send_pull(lab_gw *gw)
{
    lab_udp_packet p = {.token = ++gw->token, .type = LAB_UDP_PULL_DATA, .gateway_eui = gw->eui};
    return send_packet(gw, &p);
}

static lab_status push(lab_gw *gw, const lab_rxpk *pk, uint16_t *token)
{
    char json[2048];
    size_t jn = 0;
    lab_status st = lab_udp_rxpk_build(pk, 1, json, sizeof(json), &jn);
    if (st != LAB_OK)
        return st;
    lab_udp_packet p = {.token = ++gw->token, .type = LAB_UDP_PUSH_DATA, .gateway_eui = gw->eui,
                        .json = (const uint8_t *)json, .json_len = jn};
    *token = p.token;
    st = send_packet(gw, &p);
    if (st == LAB_OK)
        gw->push_sent++;
    return st;
}

lab_status lab_gw_push(lab_gw *gw, const lab_rxpk *pk, int timeout_ms)
{
    uint16_t token = 0;
    lab_status st = push(gw, pk, &token);
    return st == LAB_OK ? wait_for(gw, LAB_UDP_PUSH_ACK, token, timeout_ms) : st;
}

lab_status lab_gw_send_push(lab_gw *gw, const lab_rxpk *pk)
{
    uint16_t token = 0;
    return push(gw, pk, &token);
}

void lab_gw_read(lab_gw *gw)
{
    uint8_t d[4096];
    for (;;) {
        ssize_t n = recv(gw->fd, d, sizeof(d), MSG_DONTWAIT);
        if (n <= 0)
            return;
        uint16_t token = 0;
        (void)take_datagram(gw, d, (size_t)n, &token);
    }
}

void lab_gw_read_room(lab_gw *gw)
{
    uint8_t d[4096];
    while (gw->pending < LAB_GW_PENDING) {
        ssize_t n = recv(gw->fd, d, sizeof(d), MSG_DONTWAIT);
        if (n <= 0)
            return;
        uint16_t token = 0;
        (void)take_datagram(gw, d, (size_t)n, &token);
    }
}

bool lab_gw_take(lab_gw *gw, lab_txpk *out, uint16_t *token, lab_gw_down_kind *kind)
{
    if (gw->pending == 0)
        return false;
    *out = gw->down[gw->head];
    *token = gw->down_token[gw->head];
    *kind = gw->down_kind[gw->head];
    gw->head = (gw->head + 1) % LAB_GW_PENDING;
    gw->pending--;
    return true;
}

bool lab_gw_take_down(lab_gw *gw, lab_txpk *out)
{
    uint16_t token = 0;
    lab_gw_down_kind kind = LAB_GW_DOWNLINK;
    while (lab_gw_take(gw, out, &token, &kind))
        if (kind == LAB_GW_DOWNLINK)
            return true;
    return false;
}

lab_status lab_gw_wait_down(lab_gw *gw, int timeout_ms, lab_txpk *out)
{
    lab_status st = wait_for(gw, LAB_UDP_PULL_RESP, 0, timeout_ms);
    if (st != LAB_OK)
        return st;
    return lab_gw_take_down(gw, out) ? LAB_OK : LAB_ERR_IO;
}
