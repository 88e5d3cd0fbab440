/*
 * sysvring.h: the C interface of sysvring (typed lock-free channels between
 * processes on one Linux host, over System V IPC).
 *
 * Written by hand; tests/c_api.rs checks it against src/ffi (every exported
 * function declared here and nothing else, every prototype called by a C test
 * compiled with -Wall -Wextra -Werror, struct sizes asserted).
 *
 * Every function returns 0 (or a non-negative value where documented) or a
 * negative SYSVRING_E_* code; sysvring_strerror() names a code and
 * sysvring_last_error() gives this thread's last failure in words. No function
 * aborts the process or unwinds into C; NULL pointers and wrong sizes are
 * SYSVRING_E_INVALID_ARGUMENT.
 *
 * Threads: every handle may be used from any thread, and by several at once (an
 * MPMC sender or receiver concurrently; an SPSC side serializes its callers). A
 * fill/read callback must not call back into its own handle (SYSVRING_E_PANIC).
 *
 * Build: cc prog.c -Ipath/to/sysvring/include -Lpath/to/target/release -lsysvring
 *        (add -Wl,-rpath,path/to/target/release for the shared library, or link
 *        path/to/target/release/libsysvring.a -lpthread -ldl -lm statically).
 */
#ifndef SYSVRING_H
#define SYSVRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- error codes: one per sysvring::Error variant, then the operations' ---- */
#define SYSVRING_OK                     0
#define SYSVRING_E_ALREADY_EXISTS      (-1)
#define SYSVRING_E_NOT_FOUND           (-2)
#define SYSVRING_E_PERMISSION_DENIED   (-3)
#define SYSVRING_E_NOT_SYSVRING        (-4)
#define SYSVRING_E_VERSION_MISMATCH    (-5)
#define SYSVRING_E_TYPE_MISMATCH       (-6)
#define SYSVRING_E_LAYOUT_MISMATCH     (-7)
#define SYSVRING_E_ROLE_TAKEN          (-8)
#define SYSVRING_E_MESSAGE_TOO_LARGE   (-9)
#define SYSVRING_E_NOT_READY           (-10)
#define SYSVRING_E_REMOVED             (-11)
#define SYSVRING_E_TOO_MANY_PROCESSES  (-12)
#define SYSVRING_E_OS                  (-13)
#define SYSVRING_E_OTHER               (-14) /* reserved: an error a newer library adds */
#define SYSVRING_E_UNTRUSTED           (-15) /* created by a uid this side does not trust */
#define SYSVRING_E_FULL                (-20)
#define SYSVRING_E_EMPTY               (-21)
#define SYSVRING_E_TIMEOUT             (-22)
#define SYSVRING_E_DISCONNECTED        (-23)
#define SYSVRING_E_INVALID_ARGUMENT    (-24)
#define SYSVRING_E_BAD_TYPE            (-25)
#define SYSVRING_E_PANIC               (-26)

/* ---- options ---- */
#define SYSVRING_FLAVOR_ANY      0u /* create: SPSC; open: whatever it is */
#define SYSVRING_FLAVOR_SPSC     1u
#define SYSVRING_FLAVOR_MPMC     2u
#define SYSVRING_TRANSPORT_AUTO  0u /* shared memory, else message queue */
#define SYSVRING_TRANSPORT_SHM   1u
#define SYSVRING_TRANSPORT_MSGQ  2u
#define SYSVRING_KEY_PRIVATE     0  /* IPC_PRIVATE */
#define SYSVRING_FOREVER         UINT64_MAX /* timeout_us without limit */

/* ---- type descriptions (the same fingerprint as #[derive(sysvring::Message)]) ---- */
#define SYSVRING_U8      1u
#define SYSVRING_U16     2u
#define SYSVRING_U32     3u
#define SYSVRING_U64     4u
#define SYSVRING_U128    5u
#define SYSVRING_I8      6u
#define SYSVRING_I16     7u
#define SYSVRING_I32     8u
#define SYSVRING_I64     9u
#define SYSVRING_I128   10u
#define SYSVRING_F32    11u
#define SYSVRING_F64    12u
#define SYSVRING_STRUCT 100u
#define SYSVRING_MAX_DIMS 4

typedef struct sysvring_struct sysvring_struct;

/* One field: name, type code, offsetof, array lengths (outermost first:
 * int32_t m[2][3] is ndims 2, dims {2, 3}), nested struct for SYSVRING_STRUCT. */
typedef struct sysvring_field {
    const char *name;
    uint32_t type;
    uint32_t ndims;
    uint64_t offset;
    uint64_t dims[SYSVRING_MAX_DIMS];
    const sysvring_struct *nested;
} sysvring_field;

/* A struct: its name (no "struct"), sizeof, _Alignof, and its fields in order. */
struct sysvring_struct {
    const char *name;
    uint64_t size;
    uint64_t align;
    uint64_t nfields;
    const sysvring_field *fields;
};

/* How to create or open a channel; start from sysvring_options_init().
 * The element type is `type` (a struct), else `prim` (a SYSVRING_U8..F64
 * element), else the raw `fingerprint` (+ `type_name`, elem_size, elem_align). */
typedef struct sysvring_options {
    uint64_t struct_size;           /* sizeof(sysvring_options) */
    int32_t key;                    /* sysvring_key_ftok(), a number, or 0 */
    uint32_t flavor;                /* SYSVRING_FLAVOR_* */
    uint32_t transport;             /* SYSVRING_TRANSPORT_* (create) */
    uint32_t mode;                  /* default 0600 */
    uint64_t elem_size;             /* 0: from type/prim */
    uint64_t elem_align;            /* 0: from type/prim */
    uint64_t capacity;              /* 0: 1024 (create) or any (open) */
    const sysvring_struct *type;    /* or NULL */
    uint32_t prim;                  /* or 0 */
    uint32_t open_timeout_ms;       /* 0: 1000 */
    uint64_t fingerprint;           /* without type and prim */
    const char *type_name;          /* with a raw fingerprint, or NULL */
} sysvring_options;

typedef struct sysvring_stats {
    uint64_t sent;
    uint64_t received;
    uint64_t wakeups;
    uint64_t sleeps;
    uint64_t skipped;
    uint32_t senders;
    uint32_t receivers;
} sysvring_stats;

/* ---- opaque handles ---- */
typedef struct sysvring_channel sysvring_channel;
typedef struct sysvring_sender sysvring_sender;
typedef struct sysvring_receiver sysvring_receiver;

typedef void (*sysvring_fill_fn)(void *slot, size_t size, void *ctx);
typedef void (*sysvring_read_fn)(const void *msg, size_t size, void *ctx);

/* ---- setup ---- */
int sysvring_options_init(sysvring_options *o);
int sysvring_key_ftok(const char *path, int id, int32_t *key);
int sysvring_fingerprint(const sysvring_struct *type, uint64_t *out);
int sysvring_create(const sysvring_options *o, sysvring_channel **out);
int sysvring_open(const sysvring_options *o, sysvring_channel **out);
int sysvring_open_or_create(const sysvring_options *o, sysvring_channel **out, int *created);
int sysvring_channel_close(sysvring_channel *ch);

/* ---- endpoints ---- */
int sysvring_sender_open(const sysvring_channel *ch, sysvring_sender **out);
int sysvring_receiver_open(const sysvring_channel *ch, sysvring_receiver **out);
int sysvring_sender_close(sysvring_sender *tx);
int sysvring_receiver_close(sysvring_receiver *rx);

/* ---- messages: `size` must be the element size ---- */
int sysvring_send(sysvring_sender *tx, const void *msg, size_t size);
int sysvring_try_send(sysvring_sender *tx, const void *msg, size_t size);
int sysvring_send_timeout(sysvring_sender *tx, const void *msg, size_t size, uint64_t timeout_us);
int sysvring_recv(sysvring_receiver *rx, void *buf, size_t size);
int sysvring_try_recv(sysvring_receiver *rx, void *buf, size_t size);
int sysvring_recv_timeout(sysvring_receiver *rx, void *buf, size_t size, uint64_t timeout_us);
/* Zero-copy: the callback writes (reads) the slot in place, and is not called on
 * an error. Message queue: the callback works on a local copy (a send calls `fill`
 * before it waits, so on a timeout or disconnection the message was dropped). */
int sysvring_send_in_place(sysvring_sender *tx, sysvring_fill_fn fill, void *ctx, uint64_t timeout_us);
int sysvring_recv_in_place(sysvring_receiver *rx, sysvring_read_fn read, void *ctx, uint64_t timeout_us);

/* ---- queries and lifecycle ---- */
int sysvring_len(const sysvring_channel *ch, uint64_t *out);
int sysvring_capacity(const sysvring_channel *ch, uint64_t *out);
int sysvring_elem_size(const sysvring_channel *ch, uint64_t *out);
int sysvring_transport(const sysvring_channel *ch); /* SYSVRING_TRANSPORT_SHM or _MSGQ */
int sysvring_stats_get(const sysvring_channel *ch, sysvring_stats *out, size_t size);
int sysvring_keep(const sysvring_channel *ch);
int sysvring_remove(const sysvring_channel *ch);

/* ---- errors ---- */
const char *sysvring_strerror(int code);
size_t sysvring_last_error(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SYSVRING_H */
