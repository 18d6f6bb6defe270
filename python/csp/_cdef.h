/* _cdef.h - generated from core/include/csp.h by csp/_gen_cdef.py.
 * Do not edit: rerun `python3 python/csp/_gen_cdef.py`. */
#define CSP_VERSION_MAJOR ...
#define CSP_VERSION_MINOR ...
#define CSP_VERSION_PATCH ...
#define CSP_VERSION_NUMBER ...

int csp_version(void);

#define CSP_OK ...
#define CSP_PENDING ...
#define CSP_REDUCED ...
#define CSP_EINVAL ...
#define CSP_ENOMEM ...
#define CSP_ECLOSED ...
#define CSP_EAGAIN ...
#define CSP_ETIMEDOUT ...
#define CSP_ECANCELED ...
#define CSP_EBUSY ...
#define CSP_EPERM ...

const char *csp_strerror(int rc);

const char *csp_errname(int rc);

typedef struct csp_rt csp_rt;
typedef struct csp_chan csp_chan;
typedef struct csp_pending csp_pending;
typedef struct csp_xform csp_xform;
typedef struct csp_emit csp_emit;
typedef struct csp_loop csp_loop;

typedef void *(*csp_alloc_fn)(void *ud, void *ptr, size_t old_size, size_t new_size);

typedef void (*csp_drop_fn)(void *ud, void *val);

typedef void (*csp_free_fn)(void *ud);

typedef void (*csp_done_fn)(void *ud, int rc, void *val);

typedef void (*csp_alts_fn)(void *ud, int rc, size_t idx, void *val);

typedef void *(*csp_go_fn)(void *arg);

#define CSP_RT_THREADS ...
#define CSP_RT_STACK_SIZE ...
#define CSP_RT_STACK_GUARDS ...
#define CSP_RT_STACK_CACHE ...
#define CSP_RT_TIMER_RESOLUTION_MS ...
#define CSP_RT_DEBUG_DEADLOCK ...
#define CSP_RT_THREAD_POOL_MAX ...

int csp_rt_new(csp_rt **out, csp_alloc_fn alloc, void *ud);

int csp_rt_set(csp_rt *rt, int key, int64_t value);

int csp_rt_get(csp_rt *rt, int key, int64_t *value);

csp_alloc_fn csp_rt_getalloc(csp_rt *rt, void **ud);

#define CSP_RT_FREE_FORCE ...

int csp_rt_free(csp_rt *rt, int flags);

csp_rt *csp_rt_default(void);

#define CSP_STAT_PROCS_LIVE ...
#define CSP_STAT_PROCS_PARKED ...
#define CSP_STAT_PROCS_RUNNABLE ...
#define CSP_STAT_PROCS_SPAWNED ...
#define CSP_STAT_CHANS_LIVE ...
#define CSP_STAT_TIMERS_PENDING ...
#define CSP_STAT_OPS_PENDING ...
#define CSP_STAT_STACKS_MAPPED ...
#define CSP_STAT_STACKS_REUSED ...
#define CSP_STAT_THREADS_LIVE ...
#define CSP_STAT_WORKERS ...
#define CSP_STAT_WAKEUPS ...

int csp_rt_stat(csp_rt *rt, int key, int64_t *value);

int csp_rt_dump(csp_rt *rt, FILE *f);

int csp_rt_set_trace(csp_rt *rt, const char *path);

int64_t csp_now_ns(void);

#define CSP_FOREVER ...

typedef struct csp_task csp_task;
struct csp_task {
    csp_task *next;
    void (*run)(csp_task *self);
};

typedef struct csp_exec csp_exec;
struct csp_exec {
    void (*submit)(csp_exec *self, csp_task *task);
};

csp_exec *csp_rt_executor(csp_rt *rt);

csp_exec *csp_exec_inline(void);

#define CSP_BUF_NONE ...
#define CSP_BUF_FIXED ...
#define CSP_BUF_DROPPING ...
#define CSP_BUF_SLIDING ...
#define CSP_BUF_PROMISE ...

#define CSP_CAP_MAX ...
#define CSP_PENDING_MAX ...

int csp_chan_new(csp_chan **out, csp_rt *rt, int buf, size_t cap, csp_drop_fn drop, void *drop_ud);

csp_chan *csp_chan_retain(csp_chan *ch);

void csp_chan_release(csp_chan *ch);

int csp_chan_on_free(csp_chan *ch, csp_free_fn fn, void *ud);

int csp_chan_close(csp_chan *ch);

int csp_chan_closed(const csp_chan *ch);

uint64_t csp_chan_id(const csp_chan *ch);

size_t csp_chan_count(csp_chan *ch);

int csp_chan_put(csp_chan *ch, void *val);

int csp_chan_take(csp_chan *ch, void **val);

int csp_chan_put_blocking(csp_chan *ch, void *val, int64_t deadline);

int csp_chan_take_blocking(csp_chan *ch, void **val, int64_t deadline);

void csp_chan_discard(csp_chan *ch, void *val);

void csp_chan_drop(csp_chan *ch, void *val);

int csp_chan_offer(csp_chan *ch, void *val);

int csp_chan_poll(csp_chan *ch, void **val);

int csp_chan_put_cb(csp_chan *ch, void *val, csp_exec *ex, csp_done_fn cb, void *ud, csp_pending **pending);

int csp_chan_take_cb(csp_chan *ch, void **val, csp_exec *ex, csp_done_fn cb, void *ud, csp_pending **pending);

int csp_pending_cancel(csp_pending *p, void **val);

void csp_pending_release(csp_pending *p);

int csp_rt_cancel_exec(csp_rt *rt, csp_exec *ex);

#define CSP_OP_TAKE ...
#define CSP_OP_PUT ...

typedef struct csp_op {
    csp_chan *ch;
    int kind;
    void *val;
} csp_op;

#define CSP_ALTS_PRIORITY ...
#define CSP_ALTS_DEFAULT ...
#define CSP_ALTS_MAX ...

int csp_alts(const csp_op *ops, size_t n, int flags, size_t *idx, void **val);

int csp_alts_blocking(const csp_op *ops, size_t n, int flags, int64_t deadline, size_t *idx, void **val);

int csp_alts_cb(const csp_op *ops, size_t n, int flags, size_t *idx, void **val, csp_exec *ex, csp_alts_fn cb, void *ud, csp_pending **pending);

int csp_timeout(csp_chan **out, csp_rt *rt, uint64_t ms);

#define CSP_GO_PINNED ...

#define CSP_GO_SMALL_STACK ...

#define CSP_STACK_MIN ...
#define CSP_STACK_SMALL ...

int csp_go(csp_rt *rt, csp_go_fn fn, void *arg, csp_chan **result);

int csp_go_ex(csp_rt *rt, csp_go_fn fn, void *arg, unsigned flags, size_t stack_size, csp_chan **result);

int csp_thread(csp_rt *rt, csp_go_fn fn, void *arg, csp_chan **result);

int csp_sleep(uint64_t ms);

int csp_yield(void);

int csp_in_go(void);

int csp_loop_new(csp_loop **out, csp_rt *rt);

#define CSP_LOOP_NO_FD ...

int csp_loop_new_ex(csp_loop **out, csp_rt *rt, unsigned flags);

void csp_loop_wake(csp_loop *loop);

void csp_loop_free(csp_loop *loop);

int csp_loop_fd(csp_loop *loop);

csp_exec *csp_loop_executor(csp_loop *loop);

int csp_loop_run(csp_loop *loop, int max);

int csp_loop_wait(csp_loop *loop, int timeout_ms);

typedef int (*csp_xf_init_fn)(void *ud, void **state);

typedef int (*csp_xf_step_fn)(void *state, void *val, csp_emit *out);

typedef int (*csp_xf_complete_fn)(void *state, csp_emit *out);

typedef void (*csp_xf_fini_fn)(void *state, csp_emit *out);

typedef void (*csp_xf_free_fn)(void *ud);

typedef void *(*csp_exh_fn)(void *ud, int err);

int csp_xform_new(csp_xform **out, csp_rt *rt, csp_xf_init_fn init, csp_xf_step_fn step, csp_xf_complete_fn complete, csp_xf_fini_fn fini, void *ud, csp_xf_free_fn ud_free);

int csp_xform_comp(csp_xform **out, csp_xform *const *xfs, size_t n);

csp_xform *csp_xform_retain(csp_xform *xf);
void csp_xform_release(csp_xform *xf);

int csp_emit_value(csp_emit *out, void *val);

void csp_emit_drop(csp_emit *out, void *val);

int csp_chan_new_xf(csp_chan **out, csp_rt *rt, int buf, size_t cap, csp_drop_fn drop, void *drop_ud, csp_xform *xf, csp_exh_fn exh, void *exh_ud);

typedef void *(*csp_fn)(void *ud, void *val);

typedef int (*csp_pred_fn)(void *ud, void *val);

typedef int (*csp_expand_fn)(void *ud, void *val, csp_emit *out);

typedef uint64_t (*csp_key_fn)(void *ud, void *val);

typedef void *(*csp_pack_fn)(void *ud, void **vals, size_t n);

int csp_xf_map(csp_xform **out, csp_rt *rt, csp_fn f, void *ud);
int csp_xf_filter(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud);
int csp_xf_remove(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud);
int csp_xf_mapcat(csp_xform **out, csp_rt *rt, csp_expand_fn f, void *ud);
int csp_xf_keep(csp_xform **out, csp_rt *rt, csp_fn f, void *ud);

int csp_xf_take(csp_xform **out, csp_rt *rt, uint64_t n);
int csp_xf_take_while(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud);
int csp_xf_drop(csp_xform **out, csp_rt *rt, uint64_t n);
int csp_xf_drop_while(csp_xform **out, csp_rt *rt, csp_pred_fn p, void *ud);

int csp_xf_partition_all(csp_xform **out, csp_rt *rt, size_t n, csp_pack_fn pack, void *ud);

int csp_xf_partition_by(csp_xform **out, csp_rt *rt, csp_key_fn key, csp_pack_fn pack, void *ud);

int csp_xf_dedupe(csp_xform **out, csp_rt *rt, csp_key_fn key, void *ud);

int csp_xf_distinct(csp_xform **out, csp_rt *rt, csp_key_fn key, void *ud);

int csp_pipe(csp_rt *rt, csp_chan *from, csp_chan *to, int close);

int csp_onto_chan(csp_rt *rt, csp_chan *ch, void *const *vals, size_t n, int close, csp_chan **done);

int csp_to_chan(csp_chan **out, csp_rt *rt, void *const *vals, size_t n);

int csp_into(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_pack_fn pack, void *ud);

typedef void *(*csp_reduce_fn)(void *ud, void *acc, void *val, int *stop);

int csp_reduce(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_reduce_fn f, void *init, void *ud);

int csp_transduce(csp_chan **result, csp_rt *rt, csp_chan *ch, csp_xform *xf, csp_reduce_fn f, void *init, void *ud);

int csp_merge(csp_chan **out, csp_rt *rt, csp_chan *const *chans, size_t n, int buf, size_t cap);

int csp_split(csp_chan **t, csp_chan **f, csp_rt *rt, csp_chan *ch, csp_pred_fn p, void *ud, int t_buf, size_t t_cap, int f_buf, size_t f_cap);

typedef void *(*csp_combine_fn)(void *ud, void **vals, size_t n);
int csp_map(csp_chan **out, csp_rt *rt, csp_combine_fn f, void *ud, csp_chan *const *chans, size_t n, int buf, size_t cap);

int csp_take_n(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch, int buf, size_t cap);

int csp_take(csp_chan **out, csp_rt *rt, uint64_t n, csp_chan *ch, int buf, size_t cap);

typedef struct csp_mult csp_mult;

int csp_mult_new(csp_mult **out, csp_rt *rt, csp_chan *src);

int csp_mult_tap(csp_mult *m, csp_chan *ch, int close);

int csp_mult_untap(csp_mult *m, csp_chan *ch);

int csp_mult_untap_all(csp_mult *m);

void csp_mult_release(csp_mult *m);

typedef uint64_t (*csp_topic_fn)(void *ud, void *val);

typedef void (*csp_topic_buf_fn)(void *ud, uint64_t topic, int *kind, size_t *cap);
typedef struct csp_pub csp_pub;

int csp_pub_new(csp_pub **out, csp_rt *rt, csp_chan *src, csp_topic_fn topic, csp_topic_buf_fn buf, void *ud);

int csp_pub_sub(csp_pub *p, uint64_t topic, csp_chan *ch, int close);

int csp_pub_unsub(csp_pub *p, uint64_t topic, csp_chan *ch);

int csp_pub_unsub_all(csp_pub *p, int all, uint64_t topic);

void csp_pub_release(csp_pub *p);

#define CSP_MIX_MUTE ...
#define CSP_MIX_PAUSE ...
#define CSP_MIX_SOLO ...
typedef struct csp_mix csp_mix;

int csp_mix_new(csp_mix **out, csp_rt *rt, csp_chan *out_ch);

int csp_mix_admix(csp_mix *m, csp_chan *ch);

int csp_mix_unmix(csp_mix *m, csp_chan *ch);

int csp_mix_unmix_all(csp_mix *m);

int csp_mix_toggle(csp_mix *m, csp_chan *ch, unsigned flags);

int csp_mix_solo_mode(csp_mix *m, unsigned mode);

void csp_mix_release(csp_mix *m);

int csp_pipeline(csp_rt *rt, size_t n, csp_chan *to, csp_xform *xf, csp_chan *from, int close, csp_exh_fn exh, void *exh_ud);
int csp_pipeline_blocking(csp_rt *rt, size_t n, csp_chan *to, csp_xform *xf, csp_chan *from, int close, csp_exh_fn exh, void *exh_ud);

typedef void (*csp_async_fn)(void *ud, void *val, csp_chan *res);
int csp_pipeline_async(csp_rt *rt, size_t n, csp_chan *to, csp_async_fn af, void *ud, csp_chan *from, int close);

#define CSP_VAL_INT_MIN ...
#define CSP_VAL_TAG_PTR ...
#define CSP_VAL_TAG_INT ...
#define CSP_VAL_TAG_BYTES ...
#define CSP_VAL_TAG_IMM ...

#define CSP_VAL_DOMAIN_MAX ...

#define CSP_VAL_KIND_NONE ...
#define CSP_VAL_KIND_INT ...
#define CSP_VAL_KIND_BOOL ...
#define CSP_VAL_KIND_BYTES ...
#define CSP_VAL_KIND_DOMAIN ...
#define CSP_VAL_KIND_POINTER ...

int csp_value_kind(const void *v);

typedef struct csp_bytes {
    size_t len;
    unsigned char data[];
} csp_bytes;

int csp_bytes_new(csp_bytes **out, csp_rt *rt, const void *data, size_t len);

csp_bytes *csp_bytes_retain(csp_bytes *b);

void csp_bytes_release(csp_bytes *b);

int csp_value_domain_new(int *out, csp_drop_fn drop, void *ud);

int csp_value_domain_free(int domain);

void csp_value_drop(void *ud, void *val);
