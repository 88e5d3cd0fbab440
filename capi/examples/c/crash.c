/* crash.c: a producer that never stops; kill it (kill -9) and its consumer sees
 * `Disconnected` once it drained the ring: the kernel undoes the dead producer's
 * registration (SEM_UNDO), and a half-written message is never visible.
 *
 *   crash KEY [spsc|mpmc]
 *
 * Prints "ready" once its sender is connected, then sends seq 0, 1, 2, ... forever
 * (blocking while the ring is full).
 */
#include "sample.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s KEY [spsc|mpmc]\n", argv[0]);
        return 2;
    }
    sysvring_options o;
    sysvring_options_init(&o);
    o.key = (int32_t)strtol(argv[1], NULL, 0);
    o.flavor = argc > 2 ? sample_flavor(argv[2]) : SYSVRING_FLAVOR_ANY;
    o.type = &SAMPLE_TYPE;
    sysvring_channel *ch;
    int rc = sysvring_open(&o, &ch);
    if (rc < 0) sample_die("open", rc);
    sysvring_sender *tx;
    if ((rc = sysvring_sender_open(ch, &tx)) < 0) sample_die("sender_open", rc);
    printf("ready\n");
    fflush(stdout);
    for (uint64_t i = 0;; i++) {
        Sample s = sample_make(i);
        if ((rc = sysvring_send(tx, &s, sizeof s)) < 0) sample_die("send", rc);
    }
}
