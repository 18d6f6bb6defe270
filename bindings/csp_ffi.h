/* csp_ffi.h - C callbacks made out of a host language's callable with libffi
 * closures, for every SWIG language (bindings/csp.i). Written only
 * against csp.h, like every binding.
 *
 * A callback is a libffi closure: a real C function pointer of the
 * signature csp asks for (csp_done_fn, csp_alts_fn, ...) whose calls land
 * in one generic handler. The handler widens the arguments to long long
 * (the ud pointer, always first, left out) and hands them to the host's
 * CALL function on the host's loop thread: directly when the closure is
 * called inside csp_ffi_drain on that loop, else as a task queued to the
 * loop executor, which runs when the host drains it. Script code never
 * runs on a csp worker or timer thread.
 *
 * A drop hook is a CSP_FFI_QUEUE closure: always queued, even on the
 * loop's thread, and tied to its channel (csp_ffi_tie), whose
 * csp_chan_on_free frees it after the hook's last call.
 */
#ifndef CSP_BINDINGS_FFI_H
#define CSP_BINDINGS_FFI_H

#include "csp.h"

typedef struct csp_ffi_cb csp_ffi_cb;

/* The host's side of a callback: run the script with ARGS[0..N-1], on the
 * loop thread. */
typedef void (*csp_ffi_call_fn)(void *host, int n, const long long *args);

/* Free the host's side (script reference and bookkeeping), on the host
 * thread, when the closure is freed. */
typedef void (*csp_ffi_release_fn)(void *host);

#define CSP_FFI_ONCE 1u /* freed after its first call (done, alts) */
/* Always queued to the loop, never called directly, not even inside a
 * drain: for a drop hook, which csp may call under a channel lock (a
 * script there could deadlock on it, or re-enter the call that
 * dropped). Such a closure lives as long as the channel it is tied to
 * (csp_ffi_tie). */
#define CSP_FFI_QUEUE 2u
#define CSP_FFI_TIE_MAX 4
#define CSP_FFI_MAX_ARGS 8

/* A closure of signature SIG: one letter per parameter, 'p' void *,
 * 'i' int, 'z' size_t, 'u' uint64_t; the first must be 'p' (the ud
 * pointer, not passed on). Calls go to CALL(HOST, ...) on LOOP's thread.
 * NULL (nothing allocated) on a bad SIG, a NULL argument or no memory. */
csp_ffi_cb *csp_ffi_cb_new(const char *sig, csp_loop *loop, unsigned flags,
                           csp_ffi_call_fn call, csp_ffi_release_fn release,
                           void *host);

/* The C function pointer to hand to csp (cast to the signature). */
void *csp_ffi_cb_fn(csp_ffi_cb *cb);

/* Free a closure that will not be called any more (its op was cancelled
 * or never queued): RELEASE(HOST) runs. Accepts NULL. */
void csp_ffi_cb_free(csp_ffi_cb *cb);

/* Tie the N (1..CSP_FFI_TIE_MAX) CSP_FFI_QUEUE closures CBS, all of one
 * loop, to channel CH (csp_chan_on_free): when CH is finally freed, a
 * task queued after the closures' last calls frees them, RELEASE
 * included, from a drain of their loop, on its thread. If the loop is
 * freed first (csp_ffi_loop_free), calls after that are discarded, the
 * host sides are released there, on the loop's thread, and the C sides
 * go when CH does. Returns CSP_OK, CSP_EINVAL (bad CBS, N or CH, a
 * closure not CSP_FFI_QUEUE or already tied, closures of different
 * loops), CSP_ENOMEM, or what csp_chan_on_free returned (CSP_EBUSY,
 * CSP_EPERM); on an error nothing is tied. */
int csp_ffi_tie(csp_chan *ch, csp_ffi_cb *const *cbs, int n);

/* 1 if the calling thread is the one that made CB (the host's), else 0.
 * Any thread, while CB lives. */
int csp_ffi_cb_mine(csp_ffi_cb *cb);

/* The HOST of closure CB, or NULL once its host side was released (a
 * tied closure whose loop was freed). On the loop's thread. */
void *csp_ffi_cb_host(csp_ffi_cb *cb);

/* Make this thread's calls of closures queue to their loop even inside
 * a drain (ON 1) or not (ON 0); returns the previous setting. A wrapper
 * reporting an op that completed at once calls the closure so, and the
 * script runs from a later drain, never inside the call that started
 * the op (a callback starting an op must not recurse). */
int csp_ffi_defer(int on);

/* csp_loop_run(LOOP, MAX) with LOOP's closures called directly when csp
 * calls them from this drain. Returns what csp_loop_run returns. */
int csp_ffi_drain(csp_loop *loop, int max);

/* csp_loop_free(LOOP), settling its closures: callbacks still waiting
 * run once, with CSP_ECANCELED, before this returns. */
void csp_ffi_loop_free(csp_loop *loop);

/* Closures alive now (made and not yet freed), for leak tests. */
long csp_ffi_live(void);

#endif
