/*
 * idm_stream.c - the console's live stream (idm_stream.h).
 *
 * The hub is a fixed table of `capacity` subscribers under
 * its own lock (the HTTP thread subscribes while the stream thread ticks).
 * A tick reads pages of "idm.se.*" entries after the lowest cursor, reads
 * each entry's SE facts once, and asks idm_authorize for every subscriber
 * still behind that entry. Nothing is kept per event: a subscriber's
 * cursor is all its state, and the bytes wait in its net_stream queue.
 */
#include "idm/idm_stream.h"
#include "idm/idm_access.h"
#include "idm/idm_view.h"
#include "store/store_idm_view.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct subscriber {
    bool used;
    idm_actor_kind kind;
    char id[STORE_IDM_ID_MAX + 1];
    int64_t cursor;          /* the last audit seq this subscriber is past */
    int64_t last_sent;       /* when it was last sent anything (heartbeats) */
    net_stream *st;
} subscriber;

struct idm_stream_hub {
    pthread_mutex_t lock;
    size_t cap;
    idm_stream_counters k;
    subscriber subs[];
};

idm_status idm_stream_hub_new(size_t capacity, idm_stream_hub **out)
{
    *out = NULL;
    if (capacity == 0 || capacity > 65536)
        return IDM_ERR_ARGUMENT;
    idm_stream_hub *h = calloc(1, sizeof *h + capacity * sizeof(subscriber));
    if (h == NULL)
        return IDM_ERR_NOMEM;
    h->cap = capacity;
    h->k.capacity = capacity;
    pthread_mutex_init(&h->lock, NULL);
    *out = h;
    return IDM_OK;
}

static void drop(idm_stream_hub *h, subscriber *s)
{
    net_stream_end(s->st);
    net_stream_release(s->st);
    memset(s, 0, sizeof *s);
    h->k.subscribers--;
}

void idm_stream_hub_free(idm_stream_hub *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->cap; i++)
        if (h->subs[i].used)
            drop(h, &h->subs[i]);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

idm_status idm_stream_subscribe(idm_stream_hub *h, const idm_actor *a, int64_t after, net_stream *st)
{
    if (h == NULL || a == NULL || a->id == NULL || strlen(a->id) > STORE_IDM_ID_MAX || st == NULL)
        return IDM_ERR_ARGUMENT;
    pthread_mutex_lock(&h->lock);
    subscriber *free_slot = NULL;
    for (size_t i = 0; i < h->cap && free_slot == NULL; i++)
        if (!h->subs[i].used)
            free_slot = &h->subs[i];
    if (free_slot == NULL) {
        h->k.refused_full++;
        pthread_mutex_unlock(&h->lock);
        return IDM_ERR_BUSY;
    }
    *free_slot = (subscriber){.used = true, .kind = a->kind, .cursor = after, .st = st};
    snprintf(free_slot->id, sizeof free_slot->id, "%s", a->id);
    h->k.subscribers++;
    pthread_mutex_unlock(&h->lock);
    return IDM_OK;
}

/* Sends text to s; a stream that cannot take it is dropped (counted when
 * its client did not read). */
static void send_to(idm_stream_hub *h, subscriber *s, const char *text, size_t len, int64_t now)
{
    net_status rc = net_stream_send(s->st, text, len);
    if (rc == NET_OK) {
        s->last_sent = now;
        return;
    }
    if (rc == NET_ERR_LIMIT)
        h->k.dropped_slow++;
    drop(h, s);
}

/* Under h->lock: the entries of one page, each to the subscribers behind
 * it that may read its SE. */
static idm_status fan_out(idm_stream_hub *h, store *db, const store_idm_audit_entry *es, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        idm_facts f;
        idm_status st = idm_facts_read(db, es[i].dev_eui, 0, &f);
        if (st != IDM_OK)
            return st; /* the cursors stay: the entry is sent next tick */
        json_t *o = idm_view_change_json(&es[i]);
        char *data = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (data == NULL)
            return IDM_ERR_NOMEM;
        size_t cap = strlen(data) + 64;
        char *text = malloc(cap);
        int len = text != NULL ? snprintf(text, cap, "id: %lld\nevent: change\ndata: %s\n\n", (long long)es[i].seq, data)
                               : -1;
        json_free_t jfree = NULL; /* jansson's own free: the CLI installs a wiping allocator */
        json_get_alloc_funcs(NULL, &jfree);
        (jfree != NULL ? jfree : free)(data);
        if (len < 0 || (size_t)len >= cap) {
            free(text);
            return IDM_ERR_NOMEM;
        }
        for (size_t k = 0; k < h->cap; k++) {
            subscriber *s = &h->subs[k];
            if (!s->used || s->cursor >= es[i].seq)
                continue;
            s->cursor = es[i].seq;
            idm_actor a = {s->kind, s->id};
            idm_viewer v = {.actor = a};
            if (idm_authorize(&a, IDM_ACT_READ, &f.s, NULL) != IDM_OK ||
                idm_view_entry_reach(&v, &es[i]) == IDM_VIEW_HIDDEN)
                continue;
            h->k.sent++;
            send_to(h, s, text, (size_t)len, now);
        }
        free(text);
    }
    return IDM_OK;
}

idm_status idm_stream_tick(idm_stream_hub *h, store *db, int64_t now)
{
    if (h == NULL || db == NULL)
        return IDM_ERR_ARGUMENT;
    pthread_mutex_lock(&h->lock);
    int64_t low = INT64_MAX;
    for (size_t i = 0; i < h->cap; i++) {
        subscriber *s = &h->subs[i];
        if (s->used && !net_stream_open(s->st))
            drop(h, s);
        else if (s->used && s->cursor < low)
            low = s->cursor;
    }
    idm_status rc = IDM_OK;
    store_idm_audit_entry *es = low != INT64_MAX ? calloc(IDM_STREAM_PAGE, sizeof *es) : NULL;
    if (low != INT64_MAX && es == NULL)
        rc = IDM_ERR_NOMEM;
    for (int page = 0; es != NULL && rc == IDM_OK && page < IDM_STREAM_PAGES_PER_TICK; page++) {
        size_t n = 0;
        if (store_idm_audit_se_changes(db, low, es, IDM_STREAM_PAGE, &n) != STORE_OK) {
            rc = IDM_ERR_STORE;
            break;
        }
        rc = fan_out(h, db, es, n, now);
        if (n < IDM_STREAM_PAGE)
            break;
        low = es[n - 1].seq;
    }
    free(es);
    /* heartbeats: a comment line, which EventSource and fetch readers skip */
    for (size_t i = 0; i < h->cap; i++) {
        subscriber *s = &h->subs[i];
        if (s->used && now - s->last_sent >= IDM_STREAM_HEARTBEAT_S)
            send_to(h, s, ": keep-alive\n\n", 14, now);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void idm_stream_counters_get(idm_stream_hub *h, idm_stream_counters *out)
{
    pthread_mutex_lock(&h->lock);
    *out = h->k;
    pthread_mutex_unlock(&h->lock);
}
