/* config.h — a node's configuration DIR/node.json: its org, its peer and API addresses, and every
 * bound the node enforces (batching, LMDB map, frame/queue/HTTP limits). Written by `treaty init`
 * (config_write), read by the node at start (config_load). Unknown keys and values outside the
 * CONFIG_* ranges below are refused with a message naming the key. */
#ifndef TREATY_NODE_CONFIG_H
#define TREATY_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_FILE "node.json"

/* Inclusive ranges of every configurable bound (the defaults sit inside them). */
#define CONFIG_BATCH_MAX_TXS_MIN       1u
#define CONFIG_BATCH_MAX_TXS_MAX       4096u /* the ledger's BATCH_TXS_MAX */
#define CONFIG_BATCH_MAX_BYTES_MIN     1024u
#define CONFIG_BATCH_MAX_BYTES_DEFAULT 4194304u /* when frame_max_bytes leaves room for it */
/* What a peer frame carries besides one batch's entry (the Raft append or forward around it,
 * node/wire.h): a batch is at most limits.frame_max_bytes less this, or no peer could take it. */
#define CONFIG_FRAME_OVERHEAD_BYTES      1024u
#define CONFIG_BATCH_MAX_DELAY_MS_MIN    0u
#define CONFIG_BATCH_MAX_DELAY_MS_MAX    1000u
#define CONFIG_MAP_MB_MIN                1u
#define CONFIG_MAP_MB_MAX                16777216u /* 16 TiB */
#define CONFIG_FRAME_MAX_BYTES_MIN       4096u
#define CONFIG_FRAME_MAX_BYTES_MAX       268435456u /* 256 MiB */
#define CONFIG_SEND_QUEUE_MAX_BYTES_MIN  65536u
#define CONFIG_SEND_QUEUE_MAX_BYTES_MAX  68719476736u /* 64 GiB; also >= frame_max_bytes */
#define CONFIG_HTTP_BODY_MAX_BYTES_MIN   1024u
#define CONFIG_HTTP_BODY_MAX_BYTES_MAX   268435456u
#define CONFIG_HTTP_MAX_CONNECTIONS_MIN  1u
#define CONFIG_HTTP_MAX_CONNECTIONS_MAX  65536u
#define CONFIG_HTTP_HEADER_MAX_BYTES_MIN 1024u
#define CONFIG_HTTP_HEADER_MAX_BYTES_MAX 1048576u
#define CONFIG_HTTP_TIMEOUT_MS_MIN       100u
#define CONFIG_HTTP_TIMEOUT_MS_MAX       3600000u
#define CONFIG_PEER_HANDSHAKE_MS_MIN     100u
#define CONFIG_PEER_HANDSHAKE_MS_MAX     600000u
#define CONFIG_PEER_UNIDENTIFIED_MIN     1u
#define CONFIG_PEER_UNIDENTIFIED_MAX     65536u
#define CONFIG_PENDING_WRITES_MIN        1u
#define CONFIG_PENDING_WRITES_MAX        1000000u
#define CONFIG_PENDING_READS_MIN         1u
#define CONFIG_PENDING_READS_MAX         1000000u
#define CONFIG_READ_INDEX_TIMEOUT_MS_MIN 1u
#define CONFIG_READ_INDEX_TIMEOUT_MS_MAX 600000u
#define CONFIG_WRITE_TIMEOUT_MS_MIN      100u
#define CONFIG_WRITE_TIMEOUT_MS_MAX      3600000u
#define CONFIG_EVENTS_MAX_CLIENTS_MIN    1u
#define CONFIG_EVENTS_MAX_CLIENTS_MAX    65536u
#define CONFIG_EVENTS_BUFFER_BYTES_MIN   4096u
#define CONFIG_EVENTS_BUFFER_BYTES_MAX   268435456u /* 256 MiB */
#define CONFIG_EVENTS_HEARTBEAT_MS_MIN   100u
#define CONFIG_EVENTS_HEARTBEAT_MS_MAX   600000u
#define CONFIG_APPLY_MAX_ENTRIES_MIN     1u
#define CONFIG_APPLY_MAX_ENTRIES_MAX     65536u
#define CONFIG_APPLY_MAX_BYTES_MIN       1024u
#define CONFIG_APPLY_MAX_BYTES_MAX       1073741824u /* 1 GiB */
#define CONFIG_FILE_MAX_BYTES            65536u      /* node.json itself */

struct node_config {
    char org[64];
    char peer_host[256];
    uint16_t peer_port;
    char api_host[256];
    uint16_t api_port;
    uint32_t batch_max_txs, batch_max_delay_ms;
    uint32_t batch_max_bytes; /* as given in node.json; 0: not given (config_batch_max_bytes) */
    uint64_t map_size_bytes, map_max_bytes;
    uint64_t store_check_blocks; /* latest blocks checked at start-up (audit_store_check_tail) */
    /* Mapped store pages kept resident; past it they are unmapped (store_resident_trim). 0: never
     */
    uint64_t store_resident_max_bytes;
    /* LMDB commits between sync points are not flushed (store_options.sync_interval_ms) */
    uint32_t store_sync_interval_ms;
    /* Committed blocks (and their bytes) one apply takes at most; the blocks held for the
     * applies stay under three times this (driver applies_full). A block above the bytes is
     * applied alone. */
    uint32_t apply_max_entries, apply_max_bytes;
    uint32_t frame_max_bytes;
    uint64_t send_queue_max_bytes;
    uint32_t http_body_max_bytes, http_max_connections, http_header_max_bytes;
    uint32_t http_request_timeout_ms;   /* first byte to last byte of a request; then 408 */
    uint32_t http_idle_timeout_ms;      /* a connection without a request is closed after this */
    uint32_t peer_handshake_timeout_ms; /* a peer connection not through its handshake is closed */
    uint32_t peer_max_unidentified;     /* inbound peer connections not yet identified */
    uint32_t max_pending_writes;        /* writes waiting for their outcome; more get 503 */
    uint32_t read_index_timeout_ms;     /* a linearizable read not served by then gets 503 */
    uint32_t write_timeout_ms;          /* a write not committed by then gets 503, still queued */
    uint32_t max_pending_reads;         /* linearizable reads waiting; more get 503 */
    uint32_t events_max_clients;        /* open GET /v1/events streams; more get 503 */
    uint32_t events_buffer_bytes;       /* bytes queued for one stream; beyond, it is dropped */
    uint32_t events_heartbeat_ms;       /* a comment line on every stream this often */
    char log_level[16];                 /* "debug", "info", "warn" or "error" */
    /* "test_hooks": true enables POST /v1/_test/entry, which orders a raw ledger entry as this
     * node's driver would: the tests use it to play a compromised member. Off by default. */
    bool test_hooks;
};

/* Fills c with the defaults: org "", peer 127.0.0.1:7401, api 127.0.0.1:8401, batches of up to
 * 256 txs cut after one turn of the event loop, batch bytes from the frame limit, map 256 MiB
 * growing to 64 GiB, frames 16 MiB, send queue 64 MiB, HTTP body 1 MiB, 1024 connections, headers
 * 16 KiB, linearizable reads 5 s, 256 event streams with 1 MiB buffers and 15 s heartbeats, log
 * level "info". */
void config_defaults(struct node_config *c);
/* The most bytes a batch's encoded entry may have: batch.max_bytes when given (config_load checks
 * it leaves CONFIG_FRAME_OVERHEAD_BYTES of the frame), else CONFIG_BATCH_MAX_BYTES_DEFAULT or
 * frame_max_bytes less that overhead, whichever is smaller. */
uint32_t config_batch_max_bytes(const struct node_config *c);
/* Reads DIR/node.json: org, peer and api are required, every other key defaults. Returns TR_OK;
 * TR_EIO (unreadable), TR_EPARSE (not JSON), TR_ELIMIT (file too big) or TR_EINVAL (unknown key,
 * wrong type, value out of range, bad address), with one line in err naming the file and key.
 * *out is only meaningful on TR_OK. */
int config_load(const char *dir, struct node_config *out, char *err, size_t errlen);
/* Writes c as DIR/node.json (mode 0600, O_EXCL: never overwrites). TR_EEXISTS when present,
 * TR_EINVAL for a path too long, TR_EIO otherwise; no partial file is left on failure. */
int config_write(const char *dir, const struct node_config *c, char *err, size_t errlen);
/* Parses "HOST:PORT" ("[v6]:PORT" too): host 1..255 characters of letters, digits, '.', '-', '_'
 * (':' only inside brackets), port 1..65535 in decimal. host needs 256 bytes. TR_EINVAL with a
 * reason in err otherwise. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, char *err,
                          size_t errlen);

#endif
