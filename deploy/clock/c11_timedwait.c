/* Preloaded before libfaketime for the test processes: glibc's C11
 * cnd_timedwait() calls its internal pthread_cond_timedwait, out of
 * libfaketime's reach, so a deadline computed from the faked clock (as
 * librdkafka's cnd_timedwait_ms does, from gettimeofday) is waited for on
 * the real one: two years ahead, and every rdkafka timeout hangs. Here it
 * goes through the public pthread_cond_timedwait, which libfaketime
 * intercepts and maps back to real time. Test-clock runs only. */
#include <errno.h>
#include <pthread.h>
#include <threads.h>
#include <time.h>

int cnd_timedwait(cnd_t *restrict cond, mtx_t *restrict mutex,
                  const struct timespec *restrict deadline) {
    int rc = pthread_cond_timedwait((pthread_cond_t *)cond, (pthread_mutex_t *)mutex, deadline);
    return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : thrd_error;
}
