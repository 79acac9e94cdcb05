/* SPDX-License-Identifier: GPL-2.0-only */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gunyah_pool

#if !defined(_GUNYAH_CMA_POOL_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GUNYAH_CMA_POOL_TRACE_H

#include <linux/tracepoint.h>
#include <linux/types.h>
#include <trace/events/mmflags.h>

TRACE_EVENT(gunyah_pool_alloc,

	TP_PROTO(unsigned int order, gfp_t gfp, phys_addr_t phys, int err),

	TP_ARGS(order, gfp, phys, err),

	TP_STRUCT__entry(
		__field(unsigned int, order)
		__field(unsigned long, gfp)
		__field(u64, phys)
		__field(int, err)
	),

	TP_fast_assign(
		__entry->order = order;
		__entry->gfp = (__force unsigned long)gfp;
		__entry->phys = phys;
		__entry->err = err;
	),

	TP_printk("order=%u gfp=%s phys=%#llx err=%d",
		  __entry->order, show_gfp_flags(__entry->gfp),
		  __entry->phys, __entry->err)
);

TRACE_EVENT(gunyah_pool_free,

	TP_PROTO(phys_addr_t phys, unsigned int order, int err),

	TP_ARGS(phys, order, err),

	TP_STRUCT__entry(
		__field(u64, phys)
		__field(unsigned int, order)
		__field(int, err)
	),

	TP_fast_assign(
		__entry->phys = phys;
		__entry->order = order;
		__entry->err = err;
	),

	TP_printk("phys=%#llx order=%u err=%d",
		  __entry->phys, __entry->order, __entry->err)
);

DECLARE_EVENT_CLASS(gunyah_pool_commit_class,

	TP_PROTO(size_t bytes, u64 committed, int err),

	TP_ARGS(bytes, committed, err),

	TP_STRUCT__entry(
		__field(size_t, bytes)
		__field(u64, committed)
		__field(int, err)
	),

	TP_fast_assign(
		__entry->bytes = bytes;
		__entry->committed = committed;
		__entry->err = err;
	),

	TP_printk("bytes=%zu committed=%llu err=%d",
		  __entry->bytes, __entry->committed, __entry->err)
);

DEFINE_EVENT(gunyah_pool_commit_class, gunyah_pool_reserve,

	TP_PROTO(size_t bytes, u64 committed, int err),

	TP_ARGS(bytes, committed, err)
);

DEFINE_EVENT(gunyah_pool_commit_class, gunyah_pool_unreserve,

	TP_PROTO(size_t bytes, u64 committed, int err),

	TP_ARGS(bytes, committed, err)
);

DECLARE_EVENT_CLASS(gunyah_pool_resize_class,

	TP_PROTO(phys_addr_t phys, u64 size, int err),

	TP_ARGS(phys, size, err),

	TP_STRUCT__entry(
		__field(u64, phys)
		__field(u64, size)
		__field(int, err)
	),

	TP_fast_assign(
		__entry->phys = phys;
		__entry->size = size;
		__entry->err = err;
	),

	TP_printk("chunk=%#llx size=%llu err=%d",
		  __entry->phys, __entry->size, __entry->err)
);

DEFINE_EVENT(gunyah_pool_resize_class, gunyah_pool_grow,

	TP_PROTO(phys_addr_t phys, u64 size, int err),

	TP_ARGS(phys, size, err)
);

DEFINE_EVENT(gunyah_pool_resize_class, gunyah_pool_shrink,

	TP_PROTO(phys_addr_t phys, u64 size, int err),

	TP_ARGS(phys, size, err)
);

TRACE_EVENT(gunyah_pool_low_watermark,

	TP_PROTO(u64 free, u64 low),

	TP_ARGS(free, low),

	TP_STRUCT__entry(
		__field(u64, free)
		__field(u64, low)
	),

	TP_fast_assign(
		__entry->free = free;
		__entry->low = low;
	),

	TP_printk("free=%llu low=%llu", __entry->free, __entry->low)
);

#endif /* _GUNYAH_CMA_POOL_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE cma_pool_trace

/* This part must be outside protection */
#include <trace/define_trace.h>
