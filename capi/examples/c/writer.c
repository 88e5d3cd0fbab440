/* writer.c: the classic System V writer, on sysvring.
 *
 *   writer KEY COUNT [spsc|mpmc] [shm|msgq|auto]
 *
 * Opens the channel of `Sample` at KEY (or creates it: then this process owns it
 * and removes it at exit, once the reader drained it), sends COUNT samples
 * (seq 0..COUNT-1), closes its sender and exits. A reader (reader.c, or a Rust
 * `Receiver<Sample>`) sees them in order, then `Disconnected`.
 */
#include "sample.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s KEY COUNT [spsc|mpmc] [shm|msgq|auto]\n", argv[0]);
        return 2;
    }
    sysvring_options o;
    sysvring_options_init(&o);
    o.key = (int32_t)strtol(argv[1], NULL, 0);
    uint64_t count = strtoull(argv[2], NULL, 0);
    o.flavor = argc > 3 ? sample_flavor(argv[3]) : SYSVRING_FLAVOR_ANY;
    o.transport = argc > 4 ? sample_transport(argv[4]) : SYSVRING_TRANSPORT_AUTO;
    o.type = &SAMPLE_TYPE;

    sysvring_channel *ch;
    int created = 0;
    int rc = sysvring_open_or_create(&o, &ch, &created);
    if (rc < 0) sample_die("open_or_create", rc);
    sysvring_sender *tx;
    if ((rc = sysvring_sender_open(ch, &tx)) < 0) sample_die("sender_open", rc);
    for (uint64_t i = 0; i < count; i++) {
        Sample s = sample_make(i);
        if ((rc = sysvring_send(tx, &s, sizeof s)) < 0) sample_die("send", rc);
    }
    sysvring_sender_close(tx);
    printf("writer: sent %llu%s\n", (unsigned long long)count, created ? " (created)" : "");
    sysvring_channel_close(ch);
    return 0;
}
