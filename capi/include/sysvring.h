/*
 * sysvring.h: the C interface of sysvring (typed lock-free channels between
 * processes on one Linux host, over System V IPC).
 *
 * Written by hand; capi/tests/c_api.rs checks it against capi/src (every exported
 * function declared here and nothing else, every prototype called by a C test
 * compiled with -Wall -Wextra -Werror, struct sizes and constants asserted).
 *
 * Return values: every function returns 0 (or a non-negative value where
 * documented) or a negative SYSVRING_E_* code; sysvring_strerror() names a code and
 * sysvring_last_error() gives this thread's last failure in words. No function
 * aborts the process or unwinds into C, and none prints anything on the way to a
 * code it documents; NULL pointers and wrong sizes are
 * SYSVRING_E_INVALID_ARGUMENT. Each prototype below lists the codes it returns
 * besides 0 and INVALID_ARGUMENT. SYSVRING_E_PANIC may come from any of them: a
 * bug in the library, caught at the boundary (the Rust runtime reports it on
 * stderr); please report it.
 *
 * Time: every timeout is in microseconds (uint64_t): 0 = do not wait (try once),
 * SYSVRING_FOREVER = no limit. That holds for options.open_timeout_us too.
 *
 * Threads: every handle may be used from any thread, and by several at once (an
 * MPMC sender or receiver concurrently; an SPSC side serializes its callers). A
 * fill/read callback must not call back into the handle it was given by: such a
 * call returns SYSVRING_E_REENTRANT (on both transports) and does nothing.
 *
 * Lifetime: the creator's channel handle owns the kernel objects: closing it
 * removes them once this process's senders and receivers are closed too, unless
 * sysvring_keep() was called. Other processes' handles never remove (only
 * sysvring_remove() does). A process killed at any point leaves no registration
 * behind (the kernel undoes it), and its peers see SYSVRING_E_DISCONNECTED.
 *
 * Disconnection: a receive returns SYSVRING_E_DISCONNECTED once no sender is
 * connected (after at least one was, and after the messages still in the channel
 * have been received); a send returns it once no receiver is connected (after at
 * least one was). Before any peer has ever connected, calls block (or time out, or
 * are FULL/EMPTY). A sender or receiver connects by sysvring_sender_open() /
 * sysvring_receiver_open() and disconnects by closing or by its process ending.
 *
 * fork(): handles are registered per process. In a child, a sender or receiver
 * inherited from the parent reports SYSVRING_E_DISCONNECTED for every operation
 * (its registration is the parent's); the child opens its own with
 * sysvring_sender_open()/sysvring_receiver_open() on the inherited channel handle
 * (or opens the channel again). An inherited channel handle never removes the
 * channel in the child. Close inherited handles in the child as usual.
 *
 * Build: cargo build --release -p sysvring-c, then
 *        cc prog.c -Ipath/to/capi/include -Lpath/to/target/release -lsysvring_c
 *        (add -Wl,-rpath,path/to/target/release for the shared library, or link
 *        path/to/target/release/libsysvring_c.a -lpthread -ldl -lm statically).
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
#define SYSVRING_E_PANIC               (-26) /* a bug in the library (caught) */
#define SYSVRING_E_REENTRANT           (-27) /* a callback called its own handle */
#define SYSVRING_E_CAPACITY_TOO_LARGE  (-28) /* create: above 2^32 or beyond memory */
#define SYSVRING_E_SEMAPHORE_LIMIT     (-29) /* create: kernel.sem leaves no room for the set */
#define SYSVRING_E_BUFFER_TOO_SMALL    (-30) /* recv_bytes: the frame is longer (it stays) */
#define SYSVRING_E_CORRUPT             (-31) /* a frame record a peer corrupted: not read */
#define SYSVRING_E_FRAME_STATE         (-32) /* a frame is reserved (or none is) on the sender */

/* ---- options ---- */
#define SYSVRING_FLAVOR_ANY      0u /* create: SPSC; open: whatever it is */
#define SYSVRING_FLAVOR_SPSC     1u
#define SYSVRING_FLAVOR_MPMC     2u
#define SYSVRING_TRANSPORT_AUTO  0u /* shared memory, else message queue */
#define SYSVRING_TRANSPORT_SHM   1u
#define SYSVRING_TRANSPORT_MSGQ  2u
#define SYSVRING_KEY_PRIVATE     0  /* IPC_PRIVATE */
#define SYSVRING_FOREVER         UINT64_MAX /* a timeout (µs) without limit */

/* ---- type descriptions (the same fingerprint as #[derive(sysvring::Message)]) ----
 *
 * A struct is described by a field table: its name, sizeof, _Alignof and every
 * field (name, type code, offsetof, array lengths, nested struct). The table gets
 * the same fingerprint and name as the same #[repr(C)] struct in Rust, so C and
 * Rust peers check each other's types. The layout rules (checked; an inconsistent
 * table is SYSVRING_E_BAD_TYPE, with the field named by sysvring_last_error()):
 *   - names are identifiers, unique within their struct; a struct has fields;
 *   - fields are listed in declaration order, each starting exactly where the
 *     previous one ends, the last ending at sizeof: NO IMPLICIT PADDING. A struct
 *     the compiler pads (e.g. { uint8_t kind; uint64_t seq; }) is refused, because
 *     its padding bytes would travel uninitialised. Remedy: make the padding an
 *     explicit reserved field, { uint8_t kind; uint8_t _reserved[7]; uint64_t seq; },
 *     (and the same in the Rust twin: `_reserved: [u8; 7]`), or reorder the fields;
 *   - a table is checked within a fixed budget: at most 4096 fields per struct,
 *     4096 distinct structs, 65536 fields in all, nesting 32 levels (an array
 *     dimension counts as a level), and at most SYSVRING_MAX_DESC_TEXT bytes of
 *     canonical text, in which a struct used n times counts n times (a table whose
 *     expansion is larger is refused at once, never expanded); a struct that
 *     contains itself is refused. Any table is answered at once.
 *
 * char: C's `char` (and `signed char`/`unsigned char`) is described with
 * SYSVRING_CHAR, which is SYSVRING_U8: it has the fingerprint of Rust's `u8`, so the
 * Rust twin of `char name[16]` is `name: [u8; 16]`. The bytes travel unchanged
 * whatever the signedness of `char`. `bool`, pointers, `long`, `size_t` and enums
 * have no code: use the fixed-width types (uint8_t, int64_t, ...). */
#define SYSVRING_U8      1u
#define SYSVRING_U16     2u
#define SYSVRING_U32     3u
#define SYSVRING_U64     4u
#define SYSVRING_U128    5u /* unsigned __int128 */
#define SYSVRING_I8      6u
#define SYSVRING_I16     7u
#define SYSVRING_I32     8u
#define SYSVRING_I64     9u
#define SYSVRING_I128   10u /* __int128 */
#define SYSVRING_F32    11u /* float */
#define SYSVRING_F64    12u /* double */
#define SYSVRING_CHAR   SYSVRING_U8 /* char: described as uint8_t (Rust u8) */
#define SYSVRING_STRUCT 100u
#define SYSVRING_MAX_DIMS 4
#define SYSVRING_MAX_DESC_TEXT 1048576 /* bytes of canonical text, see above */

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

/* Field table entries without repeating offsetof by hand:
 *   SYSVRING_FIELD(Sample, seq, SYSVRING_U64)              uint64_t seq;
 *   SYSVRING_FIELD_ARRAY(Sample, tag, SYSVRING_CHAR, 4)     char tag[4];
 *   SYSVRING_FIELD_STRUCT(Quote, sample, &SAMPLE_TYPE)      Sample sample;
 * (arrays of more dimensions, or of structs: write the entry out.) */
#define SYSVRING_FIELD(type, field, code) \
    { #field, (code), 0, offsetof(type, field), {0}, NULL }
#define SYSVRING_FIELD_ARRAY(type, field, code, n) \
    { #field, (code), 1, offsetof(type, field), {(n)}, NULL }
#define SYSVRING_FIELD_STRUCT(type, field, desc) \
    { #field, SYSVRING_STRUCT, 0, offsetof(type, field), {0}, (desc) }

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
 * element), else the raw `fingerprint` (+ `type_name`, elem_size, elem_align).
 * struct_size versions: sizeof (88 bytes) is this version; 80 bytes (version 1,
 * whose `open_timeout_ms` sat where `reserved` is, 0 meaning 1000 ms) is still
 * accepted with that meaning; any other size is INVALID_ARGUMENT.
 *
 * Capacity is exact: the most messages in flight, as asked (a send finds the
 * channel full with exactly `capacity` messages in it); the ring behind it has
 * the next power of two of slots on shared memory. At most 2^32 (SYSVRING_E_CAPACITY_TOO_LARGE
 * above that, or when the ring would not fit in memory). */
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
    uint32_t reserved;              /* must be 0 */
    uint64_t fingerprint;           /* without type and prim */
    const char *type_name;          /* with a raw fingerprint, or NULL */
    uint64_t open_timeout_us;       /* open: wait for a creator still initialising;
                                       default 1000000 (1 s), 0: do not wait,
                                       SYSVRING_FOREVER: no limit */
} sysvring_options;

/* Counters. Shared memory: the channel's, shared by every process. Message queue
 * (no shared word to count in): sent, received and skipped count this process's
 * own messages (skipped: foreign frames of the wrong size it dropped). senders and
 * receivers are the live counts (the kernel's) on both. */
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
/* Fills *o with the defaults (struct_size, key 0, flavor ANY, transport AUTO, mode
 * 0600, open_timeout_us 1 s, everything else 0/NULL). */
int sysvring_options_init(sysvring_options *o);
/* ftok(path, id) into *key. NOT_FOUND (no such path), PERMISSION_DENIED, OS. */
int sysvring_key_ftok(const char *path, int id, int32_t *key);
/* The fingerprint of a field table into *out. BAD_TYPE (an inconsistent table,
 * or one over the budget above). */
int sysvring_fingerprint(const sysvring_struct *type, uint64_t *out);
/* Creates the channel (IPC_CREAT|IPC_EXCL); this handle owns it. ALREADY_EXISTS,
 * PERMISSION_DENIED, MESSAGE_TOO_LARGE (element above the queue's msgmax),
 * CAPACITY_TOO_LARGE, SEMAPHORE_LIMIT (kernel.sem: an MPMC ring needs 6 + 256
 * semaphores in one set), BAD_TYPE, OS. */
int sysvring_create(const sysvring_options *o, sysvring_channel **out);
/* Opens the channel another process created and checks it against the options:
 * the element type first (TYPE_MISMATCH, naming both types: yours and the one the
 * creator recorded; a message-queue channel records no name), then flavor,
 * element size and alignment, and capacity when asked (LAYOUT_MISMATCH).
 * NOT_FOUND, PERMISSION_DENIED, UNTRUSTED, NOT_SYSVRING, VERSION_MISMATCH,
 * NOT_READY (the creator did not finish within open_timeout_us), REMOVED,
 * MESSAGE_TOO_LARGE, BAD_TYPE, OS. */
int sysvring_open(const sysvring_options *o, sysvring_channel **out);
/* Opens the channel, or creates it if there is none (a start-up race resolved with
 * IPC_EXCL); *created (may be NULL) is 1 when this call created it. The codes of
 * sysvring_open and sysvring_create. */
int sysvring_open_or_create(const sysvring_options *o, sysvring_channel **out, int *created);
/* Closes a channel handle (NULL is allowed): the owner's close removes the channel
 * (see Lifetime) once this process's senders and receivers are closed. */
int sysvring_channel_close(sysvring_channel *ch);

/* ---- endpoints ---- */
/* Connects a sender (receiver) in this process. ROLE_TAKEN (SPSC: a live sender
 * (receiver) exists, in any process), TOO_MANY_PROCESSES (MPMC), REMOVED, OS. */
int sysvring_sender_open(const sysvring_channel *ch, sysvring_sender **out);
int sysvring_receiver_open(const sysvring_channel *ch, sysvring_receiver **out);
/* Closes (NULL is allowed); the last sender (receiver) closed disconnects the
 * other side. REENTRANT from the handle's own callback. */
int sysvring_sender_close(sysvring_sender *tx);
int sysvring_receiver_close(sysvring_receiver *rx);

/* ---- messages: `size` must be the element size ----
 * send: blocks while full; FULL (try), TIMEOUT (timed), DISCONNECTED (no receiver
 * left), REENTRANT. recv: blocks while empty; EMPTY (try), TIMEOUT (timed),
 * DISCONNECTED (no sender left and the channel drained), REENTRANT. */
int sysvring_send(sysvring_sender *tx, const void *msg, size_t size);
int sysvring_try_send(sysvring_sender *tx, const void *msg, size_t size);
int sysvring_send_timeout(sysvring_sender *tx, const void *msg, size_t size, uint64_t timeout_us);
int sysvring_recv(sysvring_receiver *rx, void *buf, size_t size);
int sysvring_try_recv(sysvring_receiver *rx, void *buf, size_t size);
int sysvring_recv_timeout(sysvring_receiver *rx, void *buf, size_t size, uint64_t timeout_us);
/* Zero-copy: the callback writes (reads) the slot in place, and is not called on
 * an error. Message queue: the callback works on a local copy (a send calls `fill`
 * before it waits, so on a timeout or disconnection the message was dropped).
 * TIMEOUT, DISCONNECTED, REENTRANT (this call made from the handle's own
 * callback; inside the callback, any call on the same handle is REENTRANT). */
int sysvring_send_in_place(sysvring_sender *tx, sysvring_fill_fn fill, void *ctx, uint64_t timeout_us);
int sysvring_recv_in_place(sysvring_receiver *rx, sysvring_read_fn read, void *ctx, uint64_t timeout_us);

/* ---- queries and lifecycle ---- */
/* Messages in the channel now; its exact capacity; its element size. */
int sysvring_len(const sysvring_channel *ch, uint64_t *out);
int sysvring_capacity(const sysvring_channel *ch, uint64_t *out);
int sysvring_elem_size(const sysvring_channel *ch, uint64_t *out);
int sysvring_transport(const sysvring_channel *ch); /* SYSVRING_TRANSPORT_SHM or _MSGQ */
/* The counters (sysvring_stats); size must be sizeof(sysvring_stats). */
int sysvring_stats_get(const sysvring_channel *ch, sysvring_stats *out, size_t size);
/* Keep: this handle gives up ownership, so the channel stays after every handle of
 * this process is closed (until sysvring_remove or `sysvring rm`). */
int sysvring_keep(const sysvring_channel *ch);
/* Remove: deletes the kernel objects now (IPC_RMID), whoever owns them. Connected
 * peers go on until they close: receivers get the messages still in a ring and
 * then DISCONNECTED (a removed queue loses its messages); new opens get NOT_FOUND
 * and new senders/receivers REMOVED. PERMISSION_DENIED, OS. */
int sysvring_remove(const sysvring_channel *ch);

/* ---- byte frames ----
 *
 * A frame channel carries byte frames of 0..max_len bytes (serialized data,
 * variable records) in a byte ring of the shared-memory transport, stored by their
 * length, not by the maximum: a ring of N bytes holds as many frames as their
 * records fit (a record is 8 bytes of header and the payload rounded up to 8; the
 * longest must fit a quarter of the ring). SPSC only, with the typed SPSC ring's
 * blocking, disconnection, fork and crash rules (a writer killed mid-frame leaves no
 * part of it visible). It has handles of its own, as the Rust API has FrameBuilder
 * beside Builder: no element type, a capacity in bytes, and operations the typed
 * handles do not have, so the compiler refuses a frame sender given to
 * sysvring_send(). Frames over the message queue are offered to Rust only for now.
 *
 * Time: timeout_us as everywhere (SYSVRING_FOREVER: no limit), where 0 tries once:
 * FULL (sends) or EMPTY (receives) then, TIMEOUT for any other expired timeout.
 *
 * Threads: each side serializes its callers (a lock per handle). A frame reserved
 * with sysvring_frame_reserve() belongs to the sender, not to the thread: until it
 * is committed or aborted, every other send or reserve on that sender is
 * FRAME_STATE. */
typedef struct sysvring_frame_channel sysvring_frame_channel;
typedef struct sysvring_frame_sender sysvring_frame_sender;
typedef struct sysvring_frame_receiver sysvring_frame_receiver;

/* How to create or open a frame channel; start from sysvring_frame_options_init().
 * struct_size must be sizeof (48 bytes). max_len: the longest frame (create: 0 is
 * 4096; open: 0 accepts any, else the channel's must be this). capacity_bytes: the
 * ring's size, rounded up to a power of two, at least 64, at most 2^32 (create: 0
 * is 64 KiB or four records of max_len, whichever is larger; open: 0 accepts any).
 * transport: AUTO or SHM (MSGQ is INVALID_ARGUMENT: not implemented). */
typedef struct sysvring_frame_options {
    uint64_t struct_size;           /* sizeof(sysvring_frame_options) */
    int32_t key;                    /* sysvring_key_ftok(), a number, or 0 */
    uint32_t transport;             /* SYSVRING_TRANSPORT_AUTO or _SHM */
    uint32_t mode;                  /* default 0600 */
    uint32_t reserved;              /* must be 0 */
    uint64_t max_len;               /* 0: 4096 (create) or any (open) */
    uint64_t capacity_bytes;        /* 0: the default (create) or any (open) */
    uint64_t open_timeout_us;       /* as in sysvring_options; default 1 s */
} sysvring_frame_options;

/* Fills *o with the defaults (struct_size, key 0, transport AUTO, mode 0600,
 * open_timeout_us 1 s, everything else 0). */
int sysvring_frame_options_init(sysvring_frame_options *o);
/* Creates a frame channel (IPC_CREAT|IPC_EXCL); this handle owns it (see Lifetime).
 * ALREADY_EXISTS, PERMISSION_DENIED, LAYOUT_MISMATCH (max_len's record does not fit
 * a quarter of the ring: sysvring_last_error() says the largest that does),
 * CAPACITY_TOO_LARGE (capacity_bytes above 2^32), SEMAPHORE_LIMIT, OS. */
int sysvring_frames_create(const sysvring_frame_options *o, sysvring_frame_channel **out);
/* Opens the frame channel another process created and checks it: TYPE_MISMATCH (a
 * typed channel is at the key; the text names its type), LAYOUT_MISMATCH (max_len
 * or capacity_bytes other than asked, or an inconsistent header). NOT_FOUND,
 * PERMISSION_DENIED, UNTRUSTED, NOT_SYSVRING, VERSION_MISMATCH, NOT_READY, OS. */
int sysvring_frames_open(const sysvring_frame_options *o, sysvring_frame_channel **out);
/* Opens the frame channel, or creates it if there is none; *created (may be NULL) is
 * 1 when this call created it. The codes of sysvring_frames_open and _create. */
int sysvring_frames_open_or_create(const sysvring_frame_options *o, sysvring_frame_channel **out, int *created);
/* Closes a frame channel handle (NULL is allowed), as sysvring_channel_close. */
int sysvring_frames_close(sysvring_frame_channel *ch);
/* Connects the frame sender (receiver) in this process. ROLE_TAKEN (a live sender
 * (receiver) exists, in any process), REMOVED, OS. */
int sysvring_frames_sender_open(const sysvring_frame_channel *ch, sysvring_frame_sender **out);
int sysvring_frames_receiver_open(const sysvring_frame_channel *ch, sysvring_frame_receiver **out);
/* Closes (NULL is allowed): a frame still reserved is aborted; closing disconnects
 * the other side. REENTRANT from the handle's own callback. */
int sysvring_frames_sender_close(sysvring_frame_sender *tx);
int sysvring_frames_receiver_close(sysvring_frame_receiver *rx);

/* Copies len bytes at data (NULL allowed when len is 0) into the channel as one
 * frame, waiting for room at most timeout_us. MESSAGE_TOO_LARGE (len above max_len:
 * nothing written), FULL (timeout 0), TIMEOUT, DISCONNECTED (no receiver left),
 * FRAME_STATE (a frame is reserved on this sender), REENTRANT. */
int sysvring_send_bytes(sysvring_frame_sender *tx, const void *data, size_t len, uint64_t timeout_us);
/* Zero-copy send: reserves a frame of len bytes in the ring (waiting for room at
 * most timeout_us) and stores in *data a pointer to its len writable bytes (their
 * contents unspecified), valid until sysvring_frame_commit(), sysvring_frame_abort()
 * or sysvring_frames_sender_close() on this sender; nothing is visible before the
 * commit. The codes of sysvring_send_bytes. */
int sysvring_frame_reserve(sysvring_frame_sender *tx, size_t len, void **data, uint64_t timeout_us);
/* Publishes the reserved frame with its first len bytes: len at most the reserved
 * length (shrinking gives the rest back; INVALID_ARGUMENT above it, and the frame
 * stays reserved). The receiver sees all of it or, if this process dies first, none
 * of it. FRAME_STATE (no frame reserved), REENTRANT. */
int sysvring_frame_commit(sysvring_frame_sender *tx, size_t len);
/* Drops the reserved frame unpublished. FRAME_STATE (no frame reserved), REENTRANT. */
int sysvring_frame_abort(sysvring_frame_sender *tx);
/* Receives the next frame into buf (cap bytes; buf may be NULL when cap is 0), its
 * length into *len (not NULL), waiting at most timeout_us. BUFFER_TOO_SMALL: the
 * frame is longer than cap; *len is its length and it stays in the channel (call
 * again with a buffer that large). EMPTY (timeout 0), TIMEOUT, DISCONNECTED (no
 * sender left and the channel drained), CORRUPT (the next record is not a valid one:
 * a corrupt or hostile peer; every later receive says so again), REENTRANT. */
int sysvring_recv_bytes(sysvring_frame_receiver *rx, void *buf, size_t cap, size_t *len, uint64_t timeout_us);
/* Zero-copy receive: waits (at most timeout_us) for a frame, calls read(frame, len,
 * ctx) on it in place in the ring (frame valid only during the call), then frees it;
 * read is not called on an error. The codes of sysvring_recv_bytes but
 * BUFFER_TOO_SMALL; inside read, any call on the same receiver is REENTRANT. */
int sysvring_recv_bytes_in_place(sysvring_frame_receiver *rx, sysvring_read_fn read, void *ctx, uint64_t timeout_us);
/* The longest frame; the ring's bytes; frames in the channel now. */
int sysvring_frames_max_len(const sysvring_frame_channel *ch, uint64_t *out);
int sysvring_frames_capacity_bytes(const sysvring_frame_channel *ch, uint64_t *out);
int sysvring_frames_len(const sysvring_frame_channel *ch, uint64_t *out);
/* The counters (sent and received count frames); size must be sizeof(sysvring_stats). */
int sysvring_frames_stats_get(const sysvring_frame_channel *ch, sysvring_stats *out, size_t size);
/* As sysvring_keep and sysvring_remove. PERMISSION_DENIED, OS (remove). */
int sysvring_frames_keep(const sysvring_frame_channel *ch);
int sysvring_frames_remove(const sysvring_frame_channel *ch);

/* ---- errors ---- */
/* A static text for a code (never NULL). */
const char *sysvring_strerror(int code);
/* This thread's last failure in words, into buf (NUL-terminated, cut to len);
 * returns the full length without the NUL (like snprintf). */
size_t sysvring_last_error(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SYSVRING_H */
