/*
 * idm_stream.h - the live stream of the console (GET /api/v1/events,
 * server-sent events): each subscriber gets the lifecycle changes of the
 * SEs it may read, as they are committed (docs/idm.md "Console API").
 *
 * The source is the audit chain, not this process's memory: every change
 * of an SE's state is an "idm.se.*" entry, appended in the transaction
 * that makes it, and on PostgreSQL the chain is one sequence in commit
 * order for every `idm serve` on the database. A tick reads the entries
 * after the subscribers' cursors, so a stream shows changes made by any
 * instance, and a client that reconnects with Last-Event-ID (the entry's
 * seq) misses nothing. Who sees an entry is idm_authorize's answer
 * (IDM_ACT_READ) on the SE's facts when the entry is sent.
 */
#ifndef FERRY_IDM_STREAM_H
#define FERRY_IDM_STREAM_H

#include "idm/idm_authz.h"
#include "net/net_server.h"
#include "store/store.h"

#include <stdint.h>

#define IDM_STREAM_PAGE 256             /* audit entries read per query */
#define IDM_STREAM_PAGES_PER_TICK 16    /* a tick reads at most this many pages; the rest next tick */
#define IDM_STREAM_HEARTBEAT_S 10       /* a comment line when nothing else was sent (finds gone clients) */
#define IDM_STREAM_TICK_MS 500          /* how often `idm serve` ticks */

typedef struct idm_stream_hub idm_stream_hub;

typedef struct idm_stream_counters {
    uint64_t capacity;                  /* subscribers at most (idm.conf console_streams) */
    uint64_t subscribers;               /* open now */
    uint64_t refused_full;              /* subscriptions refused: `capacity` open */
    uint64_t dropped_slow;              /* streams ended: their client did not read (NET_STREAM_QUEUE_MAX) */
    uint64_t sent;                      /* events sent */
} idm_stream_counters;

/* A hub for at most `capacity` subscribers (idm.conf console_streams);
 * one more is refused (503) and counted. */
idm_status idm_stream_hub_new(size_t capacity, idm_stream_hub **out) __attribute__((warn_unused_result));
/* Ends every stream and frees the hub (NULL is fine). */
void idm_stream_hub_free(idm_stream_hub *h);

/* Adds a subscriber: actor a (its id copied), its stream st (the hub
 * takes the reference), events after audit seq `after`. IDM_ERR_BUSY when
 * the capacity is open (counted; st is then still the
 * caller's). */
idm_status idm_stream_subscribe(idm_stream_hub *h, const idm_actor *a, int64_t after, net_stream *st)
    __attribute__((warn_unused_result));

/* One round: the changes after the subscribers' cursors, each sent to the
 * subscribers that may read its SE; heartbeats; closed streams dropped.
 * Called with the database's lock held. */
idm_status idm_stream_tick(idm_stream_hub *h, store *db, int64_t now) __attribute__((warn_unused_result));

void idm_stream_counters_get(idm_stream_hub *h, idm_stream_counters *out);

#endif
