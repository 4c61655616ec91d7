/*
 * net_server.c - the HTTP(S) server shell (net_server.h).
 *
 * Connection bookkeeping: libmicrohttpd tells us when a connection starts
 * and closes (MHD_OPTION_NOTIFY_CONNECTION); each live connection has a
 * slot (its socket, its client's address, since when it has been receiving
 * a request). A connection beyond conn_max or conn_per_ip is shut down at
 * once, before any TLS handshake. A watchdog thread shuts down every
 * connection that has been receiving one request for longer than
 * request_s - headers dribbled a byte at a time, or a body that never
 * ends - which libmicrohttpd's own time-out (idle time only) cannot catch.
 * shutdown(2) on the socket makes libmicrohttpd see the end of the stream
 * and close it itself, in its own thread. The slot is freed when
 * libmicrohttpd notifies the close, which it does before it closes the
 * socket, and both happen under our lock: the watchdog never touches a
 * socket number that was closed and given to another connection.
 *
 * Receiving a request runs from the connection's start (or the end of its
 * previous request) to the handler's call; the handler's own time is not
 * bounded here (its work is bounded by the service: HSM, database, the
 * hub's forward time-out). A keep-alive connection must therefore start
 * and finish its next request within request_s of the previous answer;
 * idle_s, shorter, closes it when it sends nothing.
 */
#include "net/net_server.h"
#include "net/net_addr.h"
#include "net/net_log.h"
#include "net/net_tls.h"
#include "net/net_token.h"
#include "lorawan/lw_secure.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PEM_MAX (1024 * 1024) /* a certificate chain or key file */
#define WATCH_EVERY_MS 100
#define REFUSAL_LOG_EVERY_S 10 /* refused connections: one summary line per period */
#define NET_TLS_PRIORITY_MAX 512
#define NET_STOP_GRACE_MS 10000 /* requests being answered when a stop comes: time to finish */
#define NET_LOG_PATH_MAX 8192 /* path bytes in an access-log line; longer ones are marked cut */

typedef struct slot {
    bool used;
    bool receiving; /* false while the handler answers */
    bool cut;
    int fd;
    struct timespec since;
    char ip[INET6_ADDRSTRLEN];
} slot;

/* What one daemon serves TLS with; kept until that daemon stopped
 * (libmicrohttpd reads the key and certificate at every handshake). */
typedef struct tls_material {
    bool on;
    char *cert, *key, *ca;
    size_t cert_len, key_len, ca_len;
    char priority[NET_TLS_PRIORITY_MAX];
} tls_material;

/* A daemon replaced by a reload: it accepts no more connections
 * (quiesced) and is stopped once the ones it has are done. */
typedef struct retiring {
    struct MHD_Daemon *d;
    tls_material m;
    struct timespec since;
} retiring;

#define RETIRING_MAX 4 /* reloads whose old daemons still drain; a fifth stops the oldest at once */

struct net_server {
    net_server_opts o;
    net_limits lim;
    net_addr addr;
    int listen_fd;
    struct MHD_Daemon *d;             /* the daemon accepting connections */
    tls_material m;                   /* its TLS material */
    retiring old[RETIRING_MAX];       /* under lock */
    size_t n_old;
    bool asks_cert;
    unsigned port;
    pthread_mutex_t lock;
    slot *slots; /* lim.conn_max */
    net_stats st;
    uint64_t refused_logged; /* refusals already in a log line */
    time_t refusal_logged_at;
    pthread_t watchdog;
    bool watching;
    volatile bool stopping;
    net_stream *streams; /* live streamed answers, under lock */
};

/* A streamed answer: referenced by the service (until net_stream_release)
 * and by its connection (until libmicrohttpd frees the response). The
 * queue and the flags are under st->lock; the server's list under s->lock,
 * always taken before st->lock. */
struct net_stream {
    pthread_mutex_t lock;
    unsigned refs;
    net_server *srv;
    struct MHD_Connection *conn; /* NULL until queued, and once gone */
    bool suspended, ended, gone;
    char *buf;
    size_t len, off, cap;
    net_stream *next;
};

typedef struct conn_state {
    char *buf;
    size_t len, cap, max;
    bool too_big;
    struct timespec start;
} conn_state;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- replies */

/* The answer when memory ran out: a constant, nothing to allocate. */
static void reply_out_of_memory(net_reply *rp)
{
    static const char oom[] = "{\"Error\":\"out of memory\"}";
    if (rp->body_free != NULL && rp->body != NULL) {
        lw_secure_wipe(rp->body, rp->len);
        rp->body_free(rp->body);
    }
    rp->status = 500;
    rp->content_type = "application/json";
    rp->body = (char *)oom;
    rp->len = sizeof(oom) - 1;
    rp->body_free = NULL;
}

void net_reply_copy(net_reply *rp, unsigned status, const char *content_type, const void *body, size_t len)
{
    char *b = malloc(len + 1);
    if (b == NULL) {
        reply_out_of_memory(rp);
        return;
    }
    if (len > 0)
        memcpy(b, body, len);
    b[len] = '\0';
    if (rp->body_free != NULL && rp->body != NULL) {
        lw_secure_wipe(rp->body, rp->len);
        rp->body_free(rp->body);
    }
    rp->status = status;
    rp->content_type = content_type;
    rp->body = b;
    rp->len = len;
    rp->body_free = free;
}

static void json_text_free(void *p)
{
    json_free_t jfree = NULL;
    json_get_alloc_funcs(NULL, &jfree);
    (jfree != NULL ? jfree : free)(p);
}

void net_reply_json(net_reply *rp, unsigned status, json_t *doc)
{
    char *s = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (s == NULL) {
        reply_out_of_memory(rp);
        return;
    }
    if (rp->body_free != NULL && rp->body != NULL) {
        lw_secure_wipe(rp->body, rp->len);
        rp->body_free(rp->body);
    }
    rp->status = status;
    rp->content_type = "application/json";
    rp->body = s;
    rp->len = strlen(s);
    rp->body_free = json_text_free;
}

void net_reply_error(net_reply *rp, unsigned status, const char *msg)
{
    json_t *o = json_object();
    if (o != NULL)
        json_object_set_new(o, "Error", net_log_text(msg, strlen(msg), 1024));
    net_reply_json(rp, status, o);
}

void net_reply_clear(net_reply *rp)
{
    if (rp->body_free != NULL && rp->body != NULL) {
        lw_secure_wipe(rp->body, rp->len);
        rp->body_free(rp->body);
    }
    json_decref(rp->log);
    memset(rp, 0, sizeof(*rp));
}

net_status net_reply_header(net_reply *rp, const char *name, const char *value)
{
    if (rp->n_headers >= NET_REPLY_HEADERS_MAX)
        return NET_ERR_LIMIT;
    rp->headers[rp->n_headers][0] = name;
    rp->headers[rp->n_headers][1] = value;
    rp->n_headers++;
    return NET_OK;
}

/* ---------------------------------------------------------------- streamed answers */

static void stream_unref(net_stream *st)
{
    pthread_mutex_lock(&st->lock);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&st->lock);
    free(st->buf);
    free(st);
}

/* Under st->lock: lets libmicrohttpd call the reader again. */
static void stream_wake_locked(net_stream *st)
{
    if (st->suspended && st->conn != NULL) {
        st->suspended = false;
        MHD_resume_connection(st->conn);
    }
}

net_status net_reply_stream(net_reply *rp, unsigned status, const char *content_type, net_stream **out)
{
    *out = NULL;
    net_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NET_ERR_NOMEM;
    pthread_mutex_init(&st->lock, NULL);
    st->refs = 2; /* the service's, and the connection's (answer() takes it over) */
    rp->status = status;
    rp->content_type = content_type;
    rp->stream = st;
    *out = st;
    return NET_OK;
}

net_status net_stream_send(net_stream *st, const char *text, size_t len)
{
    pthread_mutex_lock(&st->lock);
    net_status rc = NET_OK;
    if (st->ended || st->gone) {
        rc = NET_ERR_IO;
    } else if (st->len - st->off + len > NET_STREAM_QUEUE_MAX) {
        st->ended = true; /* a client that does not read: the queue is not grown, the stream ends */
        rc = NET_ERR_LIMIT;
    } else {
        if (st->off > 0) { /* compact: what was sent goes */
            memmove(st->buf, st->buf + st->off, st->len - st->off);
            st->len -= st->off;
            st->off = 0;
        }
        if (st->len + len > st->cap) {
            size_t cap = st->cap == 0 ? 1024 : st->cap;
            while (cap < st->len + len)
                cap *= 2;
            char *b = realloc(st->buf, cap);
            if (b == NULL)
                rc = NET_ERR_NOMEM;
            else {
                st->buf = b;
                st->cap = cap;
            }
        }
        if (rc == NET_OK) {
            memcpy(st->buf + st->len, text, len);
            st->len += len;
        }
    }
    stream_wake_locked(st);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

bool net_stream_open(net_stream *st)
{
    pthread_mutex_lock(&st->lock);
    bool open = !st->ended && !st->gone;
    pthread_mutex_unlock(&st->lock);
    return open;
}

void net_stream_end(net_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->ended = true;
    stream_wake_locked(st);
    pthread_mutex_unlock(&st->lock);
}

void net_stream_release(net_stream *st)
{
    if (st != NULL)
        stream_unref(st);
}

/* libmicrohttpd asks for more of the body: the queued bytes, the end, or
 * nothing for now - then the connection is suspended (no polling, no
 * thread) until a send or an end resumes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    net_stream *st = cls;
    pthread_mutex_lock(&st->lock);
    ssize_t n = 0;
    if (st->len > st->off) {
        size_t k = st->len - st->off < max ? st->len - st->off : max;
        memcpy(buf, st->buf + st->off, k);
        st->off += k;
        n = (ssize_t)k;
    } else if (st->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (st->conn != NULL) {
        st->suspended = true;
        MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

/* The response is freed: the connection is done with the stream. */
static void stream_gone(void *cls)
{
    net_stream *st = cls;
    net_server *s = st->srv;
    if (s != NULL) {
        pthread_mutex_lock(&s->lock);
        for (net_stream **p = &s->streams; *p != NULL; p = &(*p)->next) {
            if (*p == st) {
                *p = st->next;
                break;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_lock(&st->lock);
    st->gone = true;
    st->conn = NULL;
    pthread_mutex_unlock(&st->lock);
    stream_unref(st);
}

/* The server stops: every stream ends (its connection resumed), so that
 * the stop's grace period is not spent waiting for them. */
static void streams_end_all(net_server *s)
{
    pthread_mutex_lock(&s->lock);
    for (net_stream *st = s->streams; st != NULL; st = st->next)
        net_stream_end(st);
    pthread_mutex_unlock(&s->lock);
}

double net_request_seconds(const net_request *rq)
{
    return seconds_since(&rq->started);
}

const char *net_request_query(const net_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn_, MHD_GET_ARGUMENT_KIND, name);
}

const char *net_request_header(const net_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn_, MHD_HEADER_KIND, name);
}

/* ---------------------------------------------------------------- connections */

static void log_refusals(net_server *s)
{
    pthread_mutex_lock(&s->lock);
    time_t now = time(NULL);
    uint64_t total = s->st.refused_conn_max + s->st.refused_per_ip;
    bool due =
        total > s->refused_logged && (s->refused_logged == 0 || now - s->refusal_logged_at >= REFUSAL_LOG_EVERY_S);
    uint64_t conn_max = s->st.refused_conn_max, per_ip = s->st.refused_per_ip;
    if (due) {
        s->refused_logged = total;
        s->refusal_logged_at = now;
    }
    pthread_mutex_unlock(&s->lock);
    if (due)
        net_log(s->o.service, "warn", "connections refused at a limit",
                json_pack("{s:I,s:I,s:i,s:i}", "refused_conn_max", (json_int_t)conn_max, "refused_per_ip",
                          (json_int_t)per_ip, "conn_max", (int)s->lim.conn_max, "conn_per_ip",
                          (int)s->lim.conn_per_ip));
}

static void client_ip(struct MHD_Connection *c, char ip[INET6_ADDRSTRLEN])
{
    snprintf(ip, INET6_ADDRSTRLEN, "?");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, INET6_ADDRSTRLEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, INET6_ADDRSTRLEN);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    net_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        slot *sl = *socket_context;
        pthread_mutex_lock(&s->lock);
        if (sl != NULL) {
            sl->used = false;
            s->st.open--;
        }
        pthread_mutex_unlock(&s->lock);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = fi != NULL ? fi->connect_fd : -1;
    char ip[INET6_ADDRSTRLEN];
    client_ip(c, ip);
    slot *free_slot = NULL;
    unsigned same_ip = 0;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->lim.conn_max; i++) {
        slot *sl = &s->slots[i];
        if (!sl->used && free_slot == NULL)
            free_slot = sl;
        else if (sl->used && strcmp(sl->ip, ip) == 0)
            same_ip++;
    }
    bool refused = true;
    if (free_slot == NULL) {
        s->st.refused_conn_max++;
    } else if (same_ip >= s->lim.conn_per_ip) {
        s->st.refused_per_ip++;
    } else {
        refused = false;
        *free_slot = (slot){.used = true, .receiving = true, .fd = fd};
        clock_gettime(CLOCK_MONOTONIC, &free_slot->since);
        memcpy(free_slot->ip, ip, sizeof(ip));
        s->st.open++;
        *socket_context = free_slot;
    }
    if (refused) {
        *socket_context = NULL;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR); /* libmicrohttpd closes it at its next read */
    }
    pthread_mutex_unlock(&s->lock);
    if (refused)
        log_refusals(s);
}

static slot *slot_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void slot_set_receiving(net_server *s, struct MHD_Connection *c, bool receiving)
{
    slot *sl = slot_of(c);
    if (sl == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    sl->receiving = receiving;
    clock_gettime(CLOCK_MONOTONIC, &sl->since);
    pthread_mutex_unlock(&s->lock);
}

static void reap_old(net_server *s);

static void *watch(void *arg)
{
    net_server *s = arg;
    while (!s->stopping) {
        struct timespec nap = {0, WATCH_EVERY_MS * 1000000L};
        nanosleep(&nap, NULL);
        char ip[INET6_ADDRSTRLEN] = "";
        unsigned cut = 0;
        pthread_mutex_lock(&s->lock);
        for (unsigned i = 0; i < s->lim.conn_max; i++) {
            slot *sl = &s->slots[i];
            if (!sl->used || !sl->receiving || sl->cut || seconds_since(&sl->since) <= (double)s->lim.request_s)
                continue;
            sl->cut = true;
            if (sl->fd >= 0)
                shutdown(sl->fd, SHUT_RDWR);
            s->st.cut_deadline++;
            memcpy(ip, sl->ip, sizeof(ip));
            cut++;
        }
        pthread_mutex_unlock(&s->lock);
        reap_old(s);
        if (cut > 0)
            net_log(s->o.service, "warn", "connections cut: a request took longer than the deadline to arrive",
                    json_pack("{s:i,s:s,s:i}", "cut", (int)cut, "peer", ip, "request_s", (int)s->lim.request_s));
    }
    return NULL;
}

/* ---------------------------------------------------------------- requests */

static bool body_append(conn_state *cs, const char *data, size_t n)
{
    if (cs->too_big)
        return true;
    if (cs->len + n > cs->max) {
        cs->too_big = true;
        return true;
    }
    if (cs->len + n + 1 > cs->cap) {
        size_t ncap = cs->len + n + 1 + 1024;
        if (ncap > cs->max + 1)
            ncap = cs->max + 1;
        char *nb = malloc(ncap);
        if (nb == NULL)
            return false;
        if (cs->buf != NULL) {
            memcpy(nb, cs->buf, cs->len);
            lw_secure_wipe(cs->buf, cs->cap);
            free(cs->buf);
        }
        cs->buf = nb;
        cs->cap = ncap;
    }
    memcpy(cs->buf + cs->len, data, n);
    cs->len += n;
    cs->buf[cs->len] = '\0';
    return true;
}

static size_t client_chain(struct MHD_Connection *c, net_cert out[NET_CHAIN_MAX])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci == NULL || ci->tls_session == NULL)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (chain == NULL || n == 0 || n > NET_CHAIN_MAX)
        return 0;
    for (unsigned i = 0; i < n; i++)
        out[i] = (net_cert){.der = chain[i].data, .len = chain[i].size};
    return n;
}

static const char *level_of(const net_reply *rp)
{
    if (rp->log_level != NULL)
        return rp->log_level;
    return rp->status >= 500 ? "error" : rp->status >= 400 ? "warn" : "info";
}

static enum MHD_Result answer(net_server *s, struct MHD_Connection *c, const char *url, const char *method,
                              conn_state *cs)
{
    net_reply rp;
    memset(&rp, 0, sizeof(rp));
    rp.log = json_object();
    net_cert chain[NET_CHAIN_MAX];
    char ip[INET6_ADDRSTRLEN];
    client_ip(c, ip);
    if (cs->too_big) {
        char why[96];
        snprintf(why, sizeof(why), "body too large: at most %zu bytes here", cs->max);
        net_reply_error(&rp, 413, why);
        pthread_mutex_lock(&s->lock);
        s->st.body_too_large++;
        pthread_mutex_unlock(&s->lock);
    } else {
        net_request rq = {
            .method = method,
            .path = url,
            .body = cs->buf != NULL ? cs->buf : "",
            .len = cs->len,
            .bearer = net_bearer_of(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)),
            .chain = chain,
            .chain_len = s->asks_cert ? client_chain(c, chain) : 0,
            .peer = ip,
            .started = cs->start,
            .server = s,
            .conn_ = c,
        };
        s->o.handle(s->o.user, &rq, &rp);
        if (rp.status == 0)
            net_reply_error(&rp, 500, "the service gave no answer");
    }
    /* logged and counted before the answer leaves: whoever reads the
     * answer finds its log line and its count already there */
    json_t *f = json_object();
    if (f != NULL) {
        json_object_set_new(f, "method", net_log_text(method, strlen(method), 16));
        json_object_set_new(f, "path", net_log_text(url, strlen(url), NET_LOG_PATH_MAX));
        json_object_set_new(f, "status", json_integer(rp.status));
        json_object_set_new(f, "ms", json_real(seconds_since(&cs->start) * 1000.0));
        json_object_set_new(f, "peer", json_string(ip));
        if (json_is_object(rp.log))
            json_object_update(f, rp.log);
    }
    net_log(s->o.service, level_of(&rp), rp.log_msg != NULL ? rp.log_msg : "request", f);
    pthread_mutex_lock(&s->lock);
    s->st.requests++;
    pthread_mutex_unlock(&s->lock);
    struct MHD_Response *resp = NULL;
    net_stream *st = rp.stream;
    if (st != NULL) {
        st->srv = s;
        st->conn = c;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_gone);
        if (resp == NULL) {
            stream_gone(st); /* the connection's reference */
        } else {
            pthread_mutex_lock(&s->lock);
            st->next = s->streams;
            s->streams = st;
            pthread_mutex_unlock(&s->lock);
        }
    } else {
        resp = MHD_create_response_from_buffer(rp.len, rp.body != NULL ? rp.body : (char *)"", MHD_RESPMEM_MUST_COPY);
    }
    enum MHD_Result ret = MHD_NO;
    if (resp != NULL) {
        if (rp.content_type != NULL)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp.content_type);
        for (size_t i = 0; i < rp.n_headers; i++)
            MHD_add_response_header(resp, rp.headers[i][0], rp.headers[i][1]);
        ret = MHD_queue_response(c, rp.status, resp);
        MHD_destroy_response(resp);
    }
    net_reply_clear(&rp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    net_server *s = cls;
    conn_state *cs = *con_cls;
    if (cs == NULL) {
        cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &cs->start);
        size_t max = s->o.body_max != NULL ? s->o.body_max(s->o.user, method, url) : 0;
        cs->max = max != 0 ? max : s->lim.body_max;
        /* a declared length over the limit is refused before a byte of it is read */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > cs->max)
            cs->too_big = true;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        bool ok = body_append(cs, upload, *upload_size);
        *upload_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    slot_set_receiving(s, c, false);
    return answer(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    net_server *s = cls;
    conn_state *cs = *con_cls;
    if (cs != NULL) {
        if (cs->buf != NULL) {
            lw_secure_wipe(cs->buf, cs->cap);
            free(cs->buf);
        }
        free(cs);
    }
    *con_cls = NULL;
    slot_set_receiving(s, c, true); /* the next request on this connection, if any */
}

/* libmicrohttpd's own messages (a TLS handshake that failed, ...) as log lines. */
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    net_server *s = cls;
    char text[512];
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    net_log(s->o.service, "warn", "http library", json_pack("{s:o}", "detail", net_log_text(text, n, 512)));
}

/* ---------------------------------------------------------------- start, reload, stop */

static char *read_pem(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *b = malloc(PEM_MAX + 1);
    size_t n = b != NULL ? fread(b, 1, PEM_MAX + 1, f) : 0;
    bool whole = b != NULL && !ferror(f) && n > 0 && n <= PEM_MAX;
    fclose(f);
    if (!whole) {
        if (b != NULL) {
            lw_secure_wipe(b, PEM_MAX + 1);
            free(b);
        }
        return NULL;
    }
    b[n] = '\0';
    *len = PEM_MAX + 1;
    return b;
}

static void wipe_free(char *p, size_t n)
{
    if (p != NULL) {
        lw_secure_wipe(p, n);
        free(p);
    }
}

static void material_free(tls_material *m)
{
    wipe_free(m->cert, m->cert_len);
    wipe_free(m->key, m->key_len);
    wipe_free(m->ca, m->ca_len);
    memset(m, 0, sizeof(*m));
}

/* Reads and checks what a daemon will serve TLS with: both files, a key
 * that belongs to the certificate, the priority against the floor. Nothing
 * is half-loaded: on error *m is empty and err names the file. */
static net_status material_load(const char *service, const net_tls *t, tls_material *m, char err[NET_ERR_MAX])
{
    memset(m, 0, sizeof(*m));
    m->on = t->cert != NULL && t->cert[0] != '\0';
    if (m->on != (t->key != NULL && t->key[0] != '\0')) {
        snprintf(err, NET_ERR_MAX, "tls_cert and tls_key go together");
        return NET_ERR_ARGUMENT;
    }
    if (!m->on) {
        if (t->client_ca != NULL) {
            snprintf(err, NET_ERR_MAX, "client certificates need HTTPS: configure tls_cert and tls_key");
            return NET_ERR_POLICY;
        }
        return NET_OK;
    }
    const char *priority = t->priority != NULL && t->priority[0] != '\0' ? t->priority : NET_TLS_PRIORITY_DEFAULT;
    if (strlen(priority) >= sizeof(m->priority)) {
        snprintf(err, NET_ERR_MAX, "tls_priority: longer than %d bytes", NET_TLS_PRIORITY_MAX - 1);
        return NET_ERR_LIMIT;
    }
    net_status st = net_tls_priority_check(priority, t->below_floor_ok, err);
    if (st != NET_OK)
        return st;
    if (t->priority != NULL && t->priority[0] != '\0' && net_tls_priority_check(priority, false, err) != NET_OK)
        net_log(service, "warn", "TLS below ferry's floor, as configured (tls_priority_below_floor)",
                json_pack("{s:s,s:s}", "priority", priority, "detail", err));
    memcpy(m->priority, priority, strlen(priority) + 1);
    m->cert = read_pem(t->cert, &m->cert_len);
    m->key = read_pem(t->key, &m->key_len);
    if (m->cert == NULL || m->key == NULL) {
        snprintf(err, NET_ERR_MAX, "%s %.160s: cannot be read (a PEM file of at most %d bytes)",
                 m->cert == NULL ? "tls_cert" : "tls_key", m->cert == NULL ? t->cert : t->key, PEM_MAX);
        material_free(m);
        return NET_ERR_TLS;
    }
    /* each file on its own first, so that the error names the one at fault */
    gnutls_datum_t cd = {(unsigned char *)m->cert, (unsigned)strlen(m->cert)};
    gnutls_datum_t kd = {(unsigned char *)m->key, (unsigned)strlen(m->key)};
    gnutls_x509_crt_t *crts = NULL;
    unsigned ncrt = 0;
    int rc = gnutls_x509_crt_list_import2(&crts, &ncrt, &cd, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned i = 0; rc >= 0 && i < ncrt; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (rc < 0 || ncrt == 0) {
        snprintf(err, NET_ERR_MAX, "tls_cert %.160s: %s", t->cert, rc < 0 ? gnutls_strerror(rc) : "no certificate");
        material_free(m);
        return NET_ERR_TLS;
    }
    gnutls_x509_privkey_t pk;
    rc = gnutls_x509_privkey_init(&pk);
    if (rc == GNUTLS_E_SUCCESS) {
        rc = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        gnutls_x509_privkey_deinit(pk);
    }
    if (rc < 0) {
        snprintf(err, NET_ERR_MAX, "tls_key %.160s: %s", t->key, gnutls_strerror(rc));
        material_free(m);
        return NET_ERR_TLS;
    }
    /* then the pair as GnuTLS will take it at the handshake: a key that is
     * not the certificate's is found here, not by the first client */
    gnutls_certificate_credentials_t cred;
    rc = gnutls_certificate_allocate_credentials(&cred);
    if (rc == GNUTLS_E_SUCCESS) {
        rc = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
        gnutls_certificate_free_credentials(cred);
    }
    if (rc < 0) {
        snprintf(err, NET_ERR_MAX, "tls_key %.100s is not the key of tls_cert %.100s: %s", t->key, t->cert,
                 gnutls_strerror(rc));
        material_free(m);
        return NET_ERR_TLS;
    }
    if (t->client_ca != NULL) {
        m->ca = malloc(t->client_ca_len + 1);
        if (m->ca == NULL) {
            material_free(m);
            return NET_ERR_NOMEM;
        }
        memcpy(m->ca, t->client_ca, t->client_ca_len);
        m->ca[t->client_ca_len] = '\0';
        m->ca_len = t->client_ca_len + 1;
    }
    return NET_OK;
}

/* A daemon on the server's listening socket, serving with m. */
static struct MHD_Daemon *daemon_start(net_server *s, const tls_material *m)
{
    struct MHD_OptionItem opts[16];
    size_t no = 0;
    /* the logger first: libmicrohttpd says so otherwise, on its own stderr */
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_message, s};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)s->listen_fd, NULL};
    if (s->o.threads > 1)
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->o.threads, NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->lim.idle_s, NULL};
    /* a backstop above our own count: the slots refuse first, and count */
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, (intptr_t)(s->lim.conn_max + 64), NULL};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s};
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
    if (m->on) {
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)(uintptr_t)m->priority};
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, m->key};
        opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, m->cert};
        if (m->ca != NULL)
            opts[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, m->ca};
    }
    opts[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* ITC: a daemon can be quiesced (a reload) from another thread */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME |
                     (s->addr.v6 ? MHD_USE_IPv6 : 0) | (m->on ? MHD_USE_TLS : 0);
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static int listen_on(const net_addr *a, bool shared, unsigned *port)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        close(fd);
        return -1;
    }
    if (a->v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

static net_limits limits_of(const net_limits *l)
{
    net_limits out = *l;
    if (out.conn_max == 0)
        out.conn_max = NET_CONN_MAX_DEFAULT;
    if (out.conn_per_ip == 0)
        out.conn_per_ip = NET_CONN_PER_IP_DEFAULT;
    if (out.idle_s == 0)
        out.idle_s = NET_IDLE_S_DEFAULT;
    if (out.request_s == 0)
        out.request_s = NET_REQUEST_S_DEFAULT;
    if (out.body_max == 0)
        out.body_max = NET_BODY_MAX_DEFAULT;
    return out;
}

net_status net_server_start(const net_server_opts *o, net_server **out, char err[NET_ERR_MAX])
{
    *out = NULL;
    err[0] = '\0';
    if (o == NULL || o->handle == NULL || o->service == NULL) {
        snprintf(err, NET_ERR_MAX, "server options incomplete");
        return NET_ERR_ARGUMENT;
    }
    net_addr a;
    net_status st = net_addr_parse(o->listen, &a, err);
    if (st != NET_OK)
        return st;
    bool tls = o->tls.cert != NULL && o->tls.cert[0] != '\0';
    if (!tls && !a.loopback) {
        snprintf(err, NET_ERR_MAX,
                 "%.80s is not a loopback address: plain HTTP is served on loopback only; configure tls_cert and "
                 "tls_key for HTTPS",
                 o->listen);
        return NET_ERR_POLICY;
    }
    net_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NET_ERR_NOMEM;
    s->o = *o;
    s->o.tls = (net_tls){0}; /* the caller's buffers are not ours to keep: tls_material is */
    s->addr = a;
    s->listen_fd = -1;
    s->lim = limits_of(&o->limits);
    if (s->lim.idle_s >= s->lim.request_s)
        s->lim.idle_s = s->lim.request_s > 1 ? s->lim.request_s - 1 : 1;
    s->slots = calloc(s->lim.conn_max, sizeof(*s->slots));
    pthread_mutex_init(&s->lock, NULL);
    if (s->slots == NULL) {
        net_server_stop(s);
        return NET_ERR_NOMEM;
    }
    if ((st = material_load(o->service, &o->tls, &s->m, err)) != NET_OK) {
        net_server_stop(s);
        return st;
    }
    s->asks_cert = s->m.ca != NULL;
    s->listen_fd = listen_on(&a, o->shared_port, &s->port);
    if (s->listen_fd < 0) {
        snprintf(err, NET_ERR_MAX, "could not listen on %.80s: %s", o->listen, strerror(errno));
        net_server_stop(s);
        return NET_ERR_IO;
    }
    s->d = daemon_start(s, &s->m);
    if (s->d == NULL) {
        snprintf(err, NET_ERR_MAX, "could not serve on %.80s%s", o->listen, tls ? " with TLS" : "");
        net_server_stop(s);
        return NET_ERR_IO;
    }
    s->watching = pthread_create(&s->watchdog, NULL, watch, s) == 0;
    if (!s->watching) {
        snprintf(err, NET_ERR_MAX, "could not start the connection watchdog: %s", strerror(errno));
        net_server_stop(s);
        return NET_ERR_IO;
    }
    *out = s;
    return NET_OK;
}

/* Stops a replaced daemon and frees what it served with (outside the
 * lock: stopping calls back into on_connection). */
static void retire_daemon(retiring *r)
{
    MHD_stop_daemon(r->d);
    material_free(&r->m);
}

net_status net_server_reload(net_server *s, const net_tls *tls, char err[NET_ERR_MAX])
{
    tls_material m;
    net_status st = material_load(s->o.service, tls, &m, err);
    if (st != NET_OK)
        return st; /* the daemon in place goes on with its material */
    if (m.on != s->m.on || (m.ca != NULL) != s->asks_cert) {
        material_free(&m);
        snprintf(err, NET_ERR_MAX, "a reload changes certificates, not whether TLS or client certificates are used: "
                                   "restart for that");
        return NET_ERR_ARGUMENT;
    }
    struct MHD_Daemon *d = daemon_start(s, &m);
    if (d == NULL) {
        material_free(&m);
        snprintf(err, NET_ERR_MAX, "the new daemon did not start; the old one goes on");
        return NET_ERR_IO;
    }
    retiring now_old = {.d = s->d, .m = s->m}, drop = {0};
    clock_gettime(CLOCK_MONOTONIC, &now_old.since);
    /* from here the new daemon alone accepts; the old one finishes what it has */
    MHD_quiesce_daemon(now_old.d);
    pthread_mutex_lock(&s->lock);
    s->d = d;
    s->m = m;
    if (s->n_old == RETIRING_MAX) {
        drop = s->old[0];
        memmove(&s->old[0], &s->old[1], (RETIRING_MAX - 1) * sizeof(s->old[0]));
        s->n_old--;
    }
    s->old[s->n_old++] = now_old;
    s->st.reloads++;
    pthread_mutex_unlock(&s->lock);
    if (drop.d != NULL) {
        net_log(s->o.service, "warn", "reloads faster than old connections end: the oldest daemon is stopped now",
                json_pack("{s:i}", "draining_max", RETIRING_MAX));
        retire_daemon(&drop);
    }
    return NET_OK;
}

net_status net_server_reload_taking_ca(net_server *s, net_tls *tls, char err[NET_ERR_MAX])
{
    net_status st = net_server_reload(s, tls, err);
    if (tls->client_ca != NULL) {
        lw_secure_wipe((char *)(uintptr_t)tls->client_ca, tls->client_ca_len);
        free((char *)(uintptr_t)tls->client_ca);
        tls->client_ca = NULL;
    }
    return st;
}

/* The watchdog's other job: stop replaced daemons whose connections are
 * done, or that had a whole request's time and an idle time-out for it. */
static void reap_old(net_server *s)
{
    retiring done[RETIRING_MAX];
    size_t n_done = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n_old;) {
        const union MHD_DaemonInfo *ci = MHD_get_daemon_info(s->old[i].d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        bool idle = ci != NULL && ci->num_connections == 0;
        if (idle || seconds_since(&s->old[i].since) > (double)(s->lim.request_s + s->lim.idle_s)) {
            done[n_done++] = s->old[i];
            memmove(&s->old[i], &s->old[i + 1], (s->n_old - i - 1) * sizeof(s->old[0]));
            s->n_old--;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n_done; i++)
        retire_daemon(&done[i]);
}

unsigned net_server_port(const net_server *s)
{
    return s != NULL ? s->port : 0;
}

void net_server_stats(net_server *s, net_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->st;
    pthread_mutex_unlock(&s->lock);
}
net_status net_server_metrics(net_server *s, char *out, size_t cap, size_t *len)
{
    net_stats st;
    net_server_stats(s, &st);
    const char *sv = s->o.service;
    int n = snprintf(
        out + *len, cap - *len,
        "# HELP ferry_http_requests_total Requests answered.\n"
        "# TYPE ferry_http_requests_total counter\n"
        "ferry_http_requests_total{service=\"%s\"} %llu\n"
        "# HELP ferry_http_refused_total Connections shut at once at a connection limit.\n"
        "# TYPE ferry_http_refused_total counter\n"
        "ferry_http_refused_total{service=\"%s\",limit=\"conn_max\"} %llu\n"
        "ferry_http_refused_total{service=\"%s\",limit=\"conn_per_ip\"} %llu\n"
        "# HELP ferry_http_deadline_cut_total Connections cut: a request took longer than request_s to arrive.\n"
        "# TYPE ferry_http_deadline_cut_total counter\n"
        "ferry_http_deadline_cut_total{service=\"%s\"} %llu\n"
        "# HELP ferry_http_body_too_large_total Requests answered 413.\n"
        "# TYPE ferry_http_body_too_large_total counter\n"
        "ferry_http_body_too_large_total{service=\"%s\"} %llu\n"
        "# HELP ferry_http_tls_reloads_total TLS material replaced without a restart.\n"
        "# TYPE ferry_http_tls_reloads_total counter\n"
        "ferry_http_tls_reloads_total{service=\"%s\"} %llu\n"
        "# HELP ferry_http_connections Connections open now.\n"
        "# TYPE ferry_http_connections gauge\n"
        "ferry_http_connections{service=\"%s\"} %u\n",
        sv, (unsigned long long)st.requests, sv, (unsigned long long)st.refused_conn_max, sv,
        (unsigned long long)st.refused_per_ip, sv, (unsigned long long)st.cut_deadline, sv,
        (unsigned long long)st.body_too_large, sv, (unsigned long long)st.reloads, sv, st.open);
    if (n < 0 || (size_t)n >= cap - *len) {
        if (*len < cap)
            out[*len] = '\0';
        return NET_ERR_LIMIT;
    }
    *len += (size_t)n;
    return NET_OK;
}

void net_server_stop(net_server *s)
{
    if (s == NULL)
        return;
    s->stopping = true;
    streams_end_all(s);
    if (s->watching)
        pthread_join(s->watchdog, NULL);
    for (size_t i = 0; i < s->n_old; i++)
        retire_daemon(&s->old[i]);
    s->n_old = 0;
    if (s->d != NULL) {
        /* A graceful stop: no new connection is accepted, and the requests
         * being answered finish (NET_STOP_GRACE_MS at most) before the
         * daemon closes what is left: idle keep-alive connections and
         * requests still arriving. */
        MHD_quiesce_daemon(s->d); /* the listening socket is ours: closed below */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            unsigned answering = 0;
            pthread_mutex_lock(&s->lock);
            for (unsigned i = 0; i < s->lim.conn_max; i++)
                answering += s->slots[i].used && !s->slots[i].receiving;
            pthread_mutex_unlock(&s->lock);
            if (answering == 0 || seconds_since(&t0) * 1000.0 > NET_STOP_GRACE_MS)
                break;
            struct timespec nap = {0, 10 * 1000000L};
            nanosleep(&nap, NULL);
        }
        MHD_stop_daemon(s->d);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    material_free(&s->m);
    free(s->slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
