/* _glue_cdef.h - CFFI declarations of _glue.c (the binding's own C code;
 * csp.h's declarations are generated into _cdef.h). */

typedef csp_loop pycsp_host;

/* drops */
extern int pycsp_drops_pending;
void pycsp_drop(void *ud, void *val);
int pycsp_drops_take(intptr_t *out, int max);

/* fork(): hold the glue's locks across a fork (call before any runtime) */
void pycsp_atfork_init(void);

/* the runtime Python uses (csp.use_runtime) */
void pycsp_set_rt(csp_rt *rt);

/* host executors and asyncio loops */
pycsp_host *pycsp_host_new(void);
void pycsp_host_free(pycsp_host *h);
csp_exec *pycsp_host_exec(pycsp_host *h);
void pycsp_host_wake(pycsp_host *h);
int pycsp_host_run(pycsp_host *h, intptr_t *out, int max, int timeout_ms);
int pycsp_loop_run(csp_loop *loop, intptr_t *out, int max);

/* operations on words (takes return the word, or 4 * rc) */
int pycsp_offer(csp_chan *ch, intptr_t v);
intptr_t pycsp_poll(csp_chan *ch);
int pycsp_put(csp_chan *ch, intptr_t v, csp_exec *ex, uintptr_t id,
              csp_pending **pending);
intptr_t pycsp_take(csp_chan *ch, csp_exec *ex, uintptr_t id,
                    csp_pending **pending);
int pycsp_cancel(csp_pending *p, intptr_t *v);
int pycsp_emit(csp_emit *out, intptr_t v);

/* go ops: the go scheduler thread's executor, or PYCSP_ELSEWHERE */
#define PYCSP_ELSEWHERE ...
extern uintptr_t pycsp_sched_last_id;
void pycsp_sched_enter(csp_exec *ex);
int pycsp_sput(csp_chan *ch, intptr_t v);
intptr_t pycsp_stake(csp_chan *ch);
int pycsp_sched_cancel(uintptr_t id, intptr_t *v);
int pycsp_salts(csp_chan *const *chs, const intptr_t *vals, size_t n,
                int flags, size_t *idx, intptr_t *v);
int pycsp_alts(csp_chan *const *chs, const intptr_t *vals, size_t n,
               int flags, size_t *idx, intptr_t *v, csp_exec *ex,
               uintptr_t id, csp_pending **pending);

/* transform trampolines (passed as function pointers) */
int pycsp_xf_init(void *ud, void **state);
int pycsp_xf_step(void *state, void *val, csp_emit *out);
int pycsp_xf_complete(void *state, csp_emit *out);
void pycsp_xf_free(void *ud);
void *pycsp_exh(void *ud, int err);

/* the Python side of the trampolines */
extern "Python" int pycsp_py_xf_step(intptr_t state, intptr_t val,
                                     csp_emit *out);
extern "Python" int pycsp_py_xf_complete(intptr_t state, csp_emit *out);
extern "Python" intptr_t pycsp_py_exh(intptr_t ud, int err);

/* the go fast path (Python >= 3.10): sets csp._sched._GoChan, _GoOp */
int pycsp_fast_install(void);
