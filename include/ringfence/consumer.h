/* ringfence agent SDK, C ABI: what a product (a "consumer" of content) embeds so that ringfence can
 * ask it what it can take, have it validate and load content, and hear about its health.
 *
 * The product describes itself with rf_capability entries (one per content type it interprets)
 * and implements the rf_consumer_ops callbacks. The SDK owns the manifest encoding (docs/sdk.md,
 * "Manifest"), so a product never writes manifest JSON by hand: it passes the
 * same constants its interpreter uses (e.g. `inputs` = the number of input values its integration
 * code really supplies). The C++ wrapper is ringfence/consumer.hpp; the full guide is docs/sdk.md.
 *
 *   static const int64_t kVersions[] = {3};
 *   static const rf_capability kCaps[] = {
 *       {"ipc_rule", kVersions, 1, MY_SUPPLIED_INPUTS, MY_MAX_RULES, 0}};
 *   static const rf_consumer_ops kOps = {RF_SDK_ABI_VERSION, my_validate, my_load, my_match,
 *                                        my_health};
 *   rf_consumer* c = NULL;
 *   char msg[256];
 *   if (rf_consumer_create(&kOps, my_ctx, kCaps, 1, &c, msg, sizeof msg) != RF_OK) ...;
 *   return rf_consumer_main(c, argc, argv);   // the consumer process protocol, docs/sdk.md
 *
 * Conventions:
 *  - Every function returns an rf_status; on failure a NUL-terminated, human-readable message is
 *    written to (msg, msg_cap) when msg is not NULL (truncated to msg_cap - 1 bytes).
 *  - Variable-size output (the manifest) uses the snprintf convention: *needed receives the full
 *    size including the NUL; RF_BUFFER_TOO_SMALL when it did not fit.
 *  - Payload bytes are the canonical JSON payload of a built bundle (docs/bundle-format.md), never
 *    the envelope: signature, approval and expiry checks are the agent's job, done before.
 *  - Thread-safety: a handle REQUIRES external synchronization, except rf_consumer_report_health,
 *    which may be called from any thread while the handle is alive.
 *  - No function throws or longjmps; the C++ wrapper catches exceptions at this boundary.
 */
#ifndef RINGFENCE_CONSUMER_H_
#define RINGFENCE_CONSUMER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of the structs below. rf_consumer_ops.abi_version must equal
 * the value the product was compiled with; rf_consumer_create refuses anything else. */
#define RF_SDK_ABI_VERSION 1

typedef enum rf_status {
  RF_OK = 0,
  RF_INVALID_ARGUMENT = 1, /* the caller broke a precondition (null handle, bad capability, ...) */
  RF_REJECTED = 2,         /* the content (or event) is not acceptable to this consumer */
  RF_UNIMPLEMENTED = 3,    /* an optional operation the consumer does not provide */
  RF_BUFFER_TOO_SMALL = 4, /* output did not fit; *needed holds the size required */
  RF_INTERNAL = 5          /* the consumer failed (bug, out of memory, exception) */
} rf_status;

typedef enum rf_health_state {
  RF_HEALTH_OK = 0,       /* content loaded and being evaluated normally */
  RF_HEALTH_DEGRADED = 1, /* running, but something is wrong (e.g. some rules disabled) */
  RF_HEALTH_FAILED = 2    /* not evaluating content; the agent treats this like a crash */
} rf_health_state;

/* What one consumer build can take for one content type. Compiled into the product. */
typedef struct rf_capability {
  const char* content_type;       /* [a-z0-9_]+ */
  const int64_t* schema_versions; /* the schema versions it can parse; at least one */
  size_t schema_versions_count;
  int64_t inputs;           /* it supplies/evaluates field positions 0..inputs-1 only; >= 0 */
  int64_t max_items;        /* its preallocated item limit; 0 = not declared */
  int64_t max_bundle_bytes; /* its payload size limit; 0 = not declared */
} rf_capability;

/* Receives one matching item id per call (rf_consumer_ops.match). */
typedef void (*rf_match_sink)(void* sink_ctx, const char* item_id, size_t item_id_len);

/* Receives health reports pushed with rf_consumer_report_health. `detail` is valid only during
 * the call. Called on the reporting thread. */
typedef void (*rf_health_callback)(void* user, rf_health_state state, const char* detail);

/* The product's implementation. `ctx` is the pointer given to rf_consumer_create. */
typedef struct rf_consumer_ops {
  uint32_t abi_version; /* RF_SDK_ABI_VERSION */
  /* Parses and checks `payload` as if loading it, without changing what is active. Required.
   * RF_OK or RF_REJECTED with the reason in msg. */
  rf_status (*validate)(void* ctx, const uint8_t* payload, size_t payload_size, char* msg,
                        size_t msg_cap);
  /* Replaces the active content with `payload`. Required. RF_OK, or RF_REJECTED (the previous
   * content stays active). A consumer that crashes here is what the agent's pre-flight and
   * last-known-good guard exist for. */
  rf_status (*load)(void* ctx, const uint8_t* payload, size_t payload_size, char* msg,
                    size_t msg_cap);
  /* Optional (NULL = RF_UNIMPLEMENTED). Evaluates one event (a JSON object, field name -> value)
   * against the active content, calling sink once per matching item. Layer 2 drives the real
   * interpreter through this (docs/dynamic-checks.md). */
  rf_status (*match)(void* ctx, const char* event_json, size_t event_size, rf_match_sink sink,
                     void* sink_ctx, char* msg, size_t msg_cap);
  /* Optional (NULL = the last state pushed with rf_consumer_report_health, initially OK). */
  rf_health_state (*health)(void* ctx, char* detail, size_t detail_cap);
} rf_consumer_ops;

typedef struct rf_consumer rf_consumer; /* opaque */

/* Creates a handle. `ops` and `caps` (and the strings and arrays they point to) are copied.
 * RF_INVALID_ARGUMENT when ops is NULL, has the wrong abi_version or lacks validate/load, when a
 * capability is malformed (bad content_type, no schema version, negative inputs or limits) or a
 * content type appears twice. */
rf_status rf_consumer_create(const rf_consumer_ops* ops, void* ctx, const rf_capability* caps,
                             size_t caps_count, rf_consumer** out, char* msg, size_t msg_cap);
/* NULL is allowed. */
void rf_consumer_destroy(rf_consumer* consumer);

/* The capability manifest as canonical JSON (keys sorted, no whitespace), e.g.
 * {"ipc_rule":{"inputs":20,"max_items":5000,"schema_versions":[3]}}. Undeclared limits (0) are
 * omitted. `buf` may be NULL when buf_cap is 0 (size query). */
rf_status rf_consumer_manifest(const rf_consumer* consumer, char* buf, size_t buf_cap,
                               size_t* needed);
/* The same encoding for capabilities without a handle. */
rf_status rf_manifest_encode(const rf_capability* caps, size_t caps_count, char* buf,
                             size_t buf_cap, size_t* needed);

rf_status rf_consumer_validate(rf_consumer* consumer, const uint8_t* payload, size_t payload_size,
                               char* msg, size_t msg_cap);
rf_status rf_consumer_load(rf_consumer* consumer, const uint8_t* payload, size_t payload_size,
                           char* msg, size_t msg_cap);
rf_status rf_consumer_match(rf_consumer* consumer, const char* event_json, size_t event_size,
                            rf_match_sink sink, void* sink_ctx, char* msg, size_t msg_cap);

/* Health: the host (the agent) registers one callback (NULL to remove); the product pushes
 * reports; the host may also poll. */
void rf_consumer_set_health_callback(rf_consumer* consumer, rf_health_callback callback,
                                     void* user);
void rf_consumer_report_health(rf_consumer* consumer, rf_health_state state, const char* detail);
rf_health_state rf_consumer_health(rf_consumer* consumer, char* detail, size_t detail_cap);

/* The consumer process protocol (docs/sdk.md): a product's test/sidecar executable calls this
 * from main() so that the agent's pre-flight and layer 2 can run it in a sandbox:
 *   PROG manifest                  print the manifest, exit 0
 *   PROG validate FILE             exit 0 valid, 1 rejected
 *   PROG load FILE                 exit 0 loaded and healthy, 1 rejected or unhealthy
 *   PROG replay FILE EVENTS        load, then match each JSON line of EVENTS; one output line per
 *                                  event: {"event":N,"matches":["id",...]}; exit 0, 1 rejected
 * FILE is a canonical payload or a DSSE envelope holding one (its signatures are NOT checked).
 * Exit 2: usage or I/O error. Messages go to stderr. */
int rf_consumer_main(rf_consumer* consumer, int argc, char** argv);

const char* rf_status_name(rf_status status);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* RINGFENCE_CONSUMER_H_ */
