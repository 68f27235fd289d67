//go:build cgo && linux

package keepawake

/*
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t ka_window_ns;
// ka_touches counts touches; Go increments it without a cgo call. The keeper spins until
// it has not changed for a window: a counter, unlike a timestamp, needs no shared clock.
static _Atomic uint64_t ka_touches;
static _Atomic uint32_t ka_sleeping;   // futex word: 1 while the keeper sleeps or is about to
static _Atomic uint64_t ka_spins;      // spin periods started, for tests
static _Atomic uint64_t ka_busy;       // spin periods cut short by dense traffic, for tests

// More touches than this in one spin period is dense traffic.
#define KA_BUSY_TOUCHES 64
static _Atomic int ka_started_ok;      // 1 ok, -errno failed, 0 pending
static _Atomic int ka_tid;

static int64_t ka_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void ka_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void *ka_run(void *arg) {
	(void)arg;
	atomic_store(&ka_tid, (int)syscall(SYS_gettid));
	pthread_setname_np(pthread_self(), "keepawake"); // the name top -H shows
	struct sched_param p;
	memset(&p, 0, sizeof p);
	// Idle priority: the spinning must never take CPU time from real work.
	if (sched_setscheduler(0, SCHED_IDLE, &p) != 0) {
		atomic_store(&ka_started_ok, -errno);
		return NULL;
	}
	atomic_store(&ka_started_ok, 1);
	uint64_t seen = atomic_load(&ka_touches);
	for (;;) {
		atomic_store(&ka_sleeping, 1);
		// A touch after the last spin but before the store above would be missed otherwise.
		if (atomic_load(&ka_touches) == seen) {
			syscall(SYS_futex, &ka_sleeping, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
		}
		atomic_store(&ka_sleeping, 0);
		atomic_fetch_add(&ka_spins, 1);
		int64_t quiet_since = ka_now();
		uint64_t first = seen;
		int busy = 0;
		for (;;) {
			for (int i = 0; i < 64; i++) ka_relax();
			int64_t now = ka_now();
			uint64_t t = atomic_load(&ka_touches);
			if (t != seen) {
				seen = t;
				quiet_since = now;
				// Dense traffic keeps the CPUs awake by itself, and spinning in its
				// gaps would only slow the threads doing the work: step aside.
				if (t - first > KA_BUSY_TOUCHES) {
					busy = 1;
					break;
				}
			} else if (now - quiet_since >= ka_window_ns) {
				break;
			}
		}
		if (busy) {
			atomic_fetch_add(&ka_busy, 1);
			struct timespec d = {0, ka_window_ns};
			nanosleep(&d, NULL);
			seen = atomic_load(&ka_touches);
		}
	}
	return NULL;
}

static int ka_start(int64_t window_ns) {
	ka_window_ns = window_ns;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	// The keeper takes no signals: Go's handlers expect its own threads.
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int rc = pthread_create(&t, &attr, ka_run, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) return -rc;
	while (atomic_load(&ka_started_ok) == 0) sched_yield();
	return atomic_load(&ka_started_ok) == 1 ? 0 : atomic_load(&ka_started_ok);
}

static void ka_wake(void) {
	uint32_t one = 1;
	if (atomic_compare_exchange_strong(&ka_sleeping, &one, 0)) {
		syscall(SYS_futex, &ka_sleeping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

static uint64_t *ka_touches_addr(void) { return (uint64_t *)&ka_touches; }
static uint32_t *ka_sleeping_addr(void) { return (uint32_t *)&ka_sleeping; }
static uint64_t ka_spin_count(void) { return atomic_load(&ka_spins); }
static uint64_t ka_busy_count(void) { return atomic_load(&ka_busy); }
static int ka_thread(void) { return atomic_load(&ka_tid); }
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The keeper's counter and sleep flag, shared without cgo calls on the hot path.
var (
	touches  *atomic.Uint64
	sleeping *atomic.Uint32
)

func startKeeper(window time.Duration) error {
	touches = (*atomic.Uint64)(unsafe.Pointer(C.ka_touches_addr()))
	sleeping = (*atomic.Uint32)(unsafe.Pointer(C.ka_sleeping_addr()))
	if rc := C.ka_start(C.int64_t(window.Nanoseconds())); rc != 0 {
		return fmt.Errorf("start the idle-priority keeper thread: %w", syscall.Errno(-rc))
	}
	return nil
}

// touch costs an atomic add; only waking a sleeping keeper takes a cgo call.
func touch() {
	touches.Add(1)
	if sleeping.Load() == 1 {
		C.ka_wake()
	}
}

func spinCount() uint64    { return uint64(C.ka_spin_count()) }
func busyCount() uint64    { return uint64(C.ka_busy_count()) }
func keeperThread() int    { return int(C.ka_thread()) }
func keeperSleeping() bool { return sleeping.Load() == 1 }
