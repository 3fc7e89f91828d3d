/*
 * requests.c - what each control request does (ctsync/ctl.h).  Requests
 * that change state wait while a commit runs (request_park()): their
 * clients are answered after it, in the order the requests came.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "ctsync_config.h"
#include "ftfw.h"
#include "log.h"
#include "node.h"
#include "standby.h"

static void kv(struct ctl_client *c, const char *sec, const char *key, uint64_t v)
{
	ctl_put_kv_u64(&c->out, sec, key, v);
}

static void peer_section(const struct ftfw_peer_info *pi, char *sec, size_t len)
{
	snprintf(sec, len, "peer %s", pi->name);
}

/* "auth": off, or the key we seal with, the ones we accept, encryption. */
static void auth_status(const struct daemon *d, struct ctl_client *c)
{
	char ids[AUTH_MAX_KEYS * 6 + 1] = "";
	size_t n = 0;

	if (!d->keys.n) {
		ctl_put_kv_str(&c->out, "daemon", "auth", "off");
		return;
	}
	ctl_put_kv_str(&c->out, "daemon", "auth",
		       d->keys.encrypt ? "encrypted" : "authenticated");
	kv(c, "daemon", "key_id", d->keys.keys[0].id);
	for (size_t i = 0; i < d->keys.n; i++)
		n += (size_t)snprintf(ids + n, sizeof(ids) - n, "%s%u", i ? "," : "",
				      d->keys.keys[i].id);
	ctl_put_kv_str(&c->out, "daemon", "keys_accepted", ids);
}

static void do_status(struct daemon *d, struct ctl_client *c)
{
	static const char *const table[] = {
		[FTFW_TABLE_NONE] = "none", [FTFW_TABLE_RESYNCING] = "resyncing",
		[FTFW_TABLE_REPAIRING] = "repairing", [FTFW_TABLE_COMPLETE] = "complete",
	};
	const struct ftfw_conf *fc = ftfw_conf(d->ftfw);
	struct ftfw_peer_info pi;
	uint64_t now = now_ms();
	char epoch[16];

	snprintf(epoch, sizeof(epoch), "%08x", fc->epoch);
	ctl_put_kv_str(&c->out, "daemon", "version", CTSYNC_VERSION);
	kv(c, "daemon", "node_id", fc->node_id);
	ctl_put_kv_str(&c->out, "daemon", "epoch", epoch);
	kv(c, "daemon", "uptime_s", (now - d->started) / 1000);
	ctl_put_kv_str(&c->out, "daemon", "transport",
		       d->conf.sync.transport == TRANSPORT_MULTICAST ? "multicast" : "udp");
	{
		char why[160];
		bool ready = node_ready(d, why, sizeof(why));

		ctl_put_kv_str(&c->out, "daemon", "ready", ready ? "yes" : "no");
		if (!ready)
			ctl_put_kv_str(&c->out, "daemon", "not_ready", why);
	}
	ctl_put_kv_str(&c->out, "daemon", "role", role_name(d->role));
	ctl_put_kv_str(&c->out, "daemon", "standby", d->hot ? "hot" : "cold");
	auth_status(d, c);
	kv(c, "cache", "internal", cache_live(d->internal));
	kv(c, "cache", "external", node_external_live(d));
	kv(c, "cache", "queued", ftfw_queued(d->ftfw));
	kv(c, "cache", "unacked", ftfw_unacked(d->ftfw));
	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++) {
		char sec[80];

		peer_section(&pi, sec, sizeof(sec));
		kv(c, sec, "node_id", pi.node_id);
		ctl_put_kv_str(&c->out, sec, "state",
			       !pi.last_heard ? "unknown" : pi.alive ? "up" : "down");
		if (pi.last_heard)
			kv(c, sec, "last_heard_ms", now - pi.last_heard);
		kv(c, sec, "flows", pi.flows);
		if (d->keys.n)
			kv(c, sec, "key_id", pi.key_id);
		ctl_put_kv_str(&c->out, sec, "table", table[pi.table]);
	}
}

static void do_stats(struct daemon *d, struct ctl_client *c)
{
	struct ftfw_stats fs;
	const struct ftfw_tx_stats *tx = &fs.tx;
	const struct wire_stats *w = &fs.wire;
	struct ftfw_peer_info pi;
	struct kernel_stats kst;
	const struct standby_stats *sb = standby_stats(d->standby);

	ftfw_stats(d->ftfw, &fs);

	kernel_stats(d->k, &kst);
	kv(c, "kernel", "events_new", d->ks.ev_new);
	kv(c, "kernel", "events_update", d->ks.ev_update);
	kv(c, "kernel", "events_destroy", d->ks.ev_destroy);
	kv(c, "kernel", "events_own", d->ks.ev_own);
	kv(c, "kernel", "filtered", d->ks.filtered);
	kv(c, "kernel", "overruns", d->ks.overruns);
	kv(c, "kernel", "events_lost", kernel_events_lost(d->k));
	kv(c, "kernel", "dumps", d->ks.dumps);
	kv(c, "kernel", "dumped", d->ks.dumped);
	kv(c, "kernel", "reconciled", d->ks.reconciled);
	kv(c, "kernel", "events_bad", kst.ev_bad);
	kv(c, "kernel", "events_truncated", kst.ev_trunc);
	kv(c, "kernel", "events_foreign", kst.ev_foreign);
	kv(c, "kernel", "dump_bad", kst.dump_bad);
	kv(c, "cache", "internal", cache_live(d->internal));
	kv(c, "cache", "internal_tombstones", d->internal->dead);
	kv(c, "cache", "external", node_external_live(d));
	kv(c, "cache", "refused", d->ks.refused);
	kv(c, "sync", "tx_datagrams", tx->datagrams);
	kv(c, "sync", "tx_bytes", tx->bytes);
	kv(c, "sync", "tx_flows", tx->flows);
	kv(c, "sync", "tx_destroys", tx->destroys);
	kv(c, "sync", "tx_heartbeats", tx->heartbeats);
	kv(c, "sync", "tx_status", tx->status);
	kv(c, "sync", "retransmitted", tx->retransmitted);
	kv(c, "sync", "bulks", tx->bulks);
	kv(c, "sync", "window_full", tx->window_full);
	kv(c, "sync", "coalesced", tx->coalesced);
	kv(c, "sync", "tx_gap_max_ms", tx->gap_max_ms);
	kv(c, "sync", "tx_errors", d->tx_errors);
	kv(c, "sync", "queued", ftfw_queued(d->ftfw));
	kv(c, "sync", "unacked", ftfw_unacked(d->ftfw));
	kv(c, "malformed", "bad_len", w->rx_bad_len + d->rx_oversize);
	kv(c, "malformed", "bad_version", w->rx_bad_version);
	kv(c, "malformed", "bad_type", w->rx_bad_type);
	kv(c, "malformed", "bad_record", w->rx_bad_record);
	kv(c, "malformed", "bad_attr", w->rx_bad_attr);
	kv(c, "malformed", "bad_status", w->rx_bad_status);
	kv(c, "malformed", "unknown_record", w->rx_unknown_record);
	kv(c, "malformed", "unknown_attr", w->rx_unknown_attr);
	kv(c, "malformed", "foreign", fs.rx_foreign);
	kv(c, "malformed", "node_clash", fs.rx_node_clash);
	kv(c, "auth", "no_tag", fs.auth.rx_no_tag);
	kv(c, "auth", "unexpected_tag", fs.auth.rx_unexpected_tag);
	kv(c, "auth", "bad_key", fs.auth.rx_bad_key);
	kv(c, "auth", "bad_tag", fs.auth.rx_bad_tag);
	kv(c, "auth", "replayed", fs.auth.rx_replay);
	kv(c, "auth", "old_epoch", fs.auth.rx_old_epoch);
	kv(c, "auth", "unproven", fs.auth.rx_unproven);
	kv(c, "commit", "runs", d->cs.runs);
	kv(c, "commit", "created", d->cs.created);
	kv(c, "commit", "exists", d->cs.exists);
	kv(c, "commit", "failed", d->cs.failed);
	kv(c, "commit", "last_usec", d->cs.last_usec);
	kv(c, "commit", "pending", commit_pending(d));
	kv(c, "commit", "announced", d->announced);
	kv(c, "standby", "flushes", sb->flushes);
	kv(c, "standby", "written", sb->written);
	kv(c, "standby", "created", sb->created);
	kv(c, "standby", "updated", sb->updated);
	kv(c, "standby", "deleted", sb->deleted);
	kv(c, "standby", "refreshed", sb->refreshed);
	kv(c, "standby", "restored", sb->restored);
	kv(c, "standby", "released", sb->released);
	kv(c, "standby", "failed", sb->failed);
	kv(c, "standby", "queued", standby_queued(d->standby));
	kv(c, "standby", "deferred", sb->deferred);
	kv(c, "standby", "own_events", sb->events);
	kv(c, "control", "clients", d->ctl.nclients);
	kv(c, "control", "accepted", d->ctl.accepted);
	kv(c, "control", "accept_errors", d->ctl.accept_errors);
	kv(c, "control", "evicted", d->ctl.evicted);
	kv(c, "control", "refused", d->ctl.refused);
	kv(c, "control", "unsent_bytes", d->ctl.out_total);
	for (int i = 0; ftfw_peer_info(d->ftfw, i, &pi); i++) {
		const struct ftfw_peer_stats *s = &pi.st;
		char sec[80];

		peer_section(&pi, sec, sizeof(sec));
		kv(c, sec, "rx_datagrams", s->rx_datagrams);
		kv(c, sec, "rx_bytes", s->rx_bytes);
		kv(c, sec, "rx_flows", s->rx_flows);
		kv(c, sec, "rx_destroys", s->rx_destroys);
		kv(c, sec, "rx_stale", s->rx_stale);
		kv(c, sec, "rx_dup", s->rx_dup);
		kv(c, sec, "rx_lost", s->rx_lost);
		kv(c, sec, "rx_void", s->rx_void);
		kv(c, sec, "nack_sent", s->nack_sent);
		kv(c, sec, "nack_rcvd", s->nack_rcvd);
		kv(c, sec, "acks_rcvd", s->acks_rcvd);
		kv(c, sec, "resync_requested", s->resync_requested);
		kv(c, sec, "resync_done", s->resync_done);
		kv(c, sec, "resync_served", s->resync_served);
		kv(c, sec, "resync_deferred", s->resync_deferred);
		kv(c, sec, "swept", s->swept);
		kv(c, sec, "bulk_refused", s->bulk_refused);
		kv(c, sec, "auth_refused", s->auth_refused);
		kv(c, sec, "restarts", s->restarts);
		kv(c, sec, "cache_full", s->cache_full);
		kv(c, sec, "rx_bad_seq", s->rx_bad_seq);
		kv(c, sec, "desyncs", s->desyncs);
	}
}

struct dump_ctx {
	struct ctl_client *c;
	uint32_t node_id;		/* ours */
	struct daemon *d;
	size_t n;
};


static int dump_one(struct cache_entry *e, uint32_t origin, void *arg)
{
	struct dump_ctx *dc = arg;

	if (!(e->flags & CE_DEAD))
		ctl_put_flow(&dc->c->out, origin, cache_flow(e));
	if ((++dc->n & 4095) == 0)
		daemon_keepalive(dc->d);
	return 0;
}

static int dump_own(struct cache_entry *e, void *arg)
{
	struct dump_ctx *dc = arg;

	return dump_one(e, dc->node_id, dc);
}

static void do_dump(struct daemon *d, struct ctl_client *c, int which)
{
	struct dump_ctx dc = { c, ftfw_conf(d->ftfw)->node_id, d, 0 };

	if (which == CTL_CACHE_INTERNAL)
		cache_foreach(d->internal, dump_own, &dc);
	else
		ftfw_foreach_external(d->ftfw, FTFW_ALL_PEERS, dump_one, &dc);
}

/* Keep cl's request until the commit under way ends (request_unpark()):
 * in the order they came, after it, as keepalived sent them.  Which
 * requests wait: ctl_req_changes_state(). */
static void park(struct daemon *d, struct client *cl, const struct ctl_frame *req)
{
	cl->req = req->type;
	cl->blen = req->len ? 1 : 0;
	cl->body = req->len ? req->body[0] : 0;
	cl->c->waiting = true;
	list_add_tail(&d->parked, &cl->parked);
}

void request_handle(void *arg, struct ctl_client *c, const struct ctl_frame *req)
{
	struct daemon *d = arg;
	char msg[128];
	int which = req->len >= 1 ? req->body[0] : 0;

	if (d->job && ctl_req_changes_state(req->type)) {
		park(d, c->user, req);
		return;
	}
	switch (req->type) {
	case CTL_REQ_STATUS:
		do_status(d, c);
		break;
	case CTL_REQ_STATS:
		do_stats(d, c);
		break;
	case CTL_REQ_DUMP:
		if (which != CTL_CACHE_INTERNAL && which != CTL_CACHE_EXTERNAL) {
			ctl_put_done(&c->out, -EINVAL, "dump: internal or external?");
			return;
		}
		do_dump(d, c, which);
		break;
	case CTL_REQ_COMMIT:
		commit_start(d, c->user, KERNEL_REFRESH, false);
		return;
	case CTL_REQ_FLUSH:
		if (which == CTL_CACHE_EXTERNAL) {
			ftfw_flush_external(d->ftfw);
			ctl_put_done(&c->out, 0, "external cache flushed");
		} else if (which == CTL_CACHE_INTERNAL) {
			ftfw_reset_internal(d->ftfw);
			node_reconcile(d);
			ftfw_start_bulk(d->ftfw);
			snprintf(msg, sizeof(msg), "internal cache reloaded from the "
				 "kernel: %zu flows", cache_live(d->internal));
			ctl_put_done(&c->out, 0, msg);
		} else {
			ctl_put_done(&c->out, -EINVAL, "flush: internal or external?");
		}
		daemon_flush(d);
		return;
	case CTL_REQ_RESYNC: {
		int n = ftfw_request_resync(d->ftfw, now_ms());

		snprintf(msg, sizeof(msg), "asked %d peer%s for %s table", n,
			 n == 1 ? "" : "s", n == 1 ? "its" : "their");
		ctl_put_done(&c->out, n ? 0 : -ENOTCONN, n ? msg : "no peer heard from yet");
		daemon_flush(d);
		return;
	}
	case CTL_REQ_MASTER:
		node_master(d, c->user);
		return;
	case CTL_REQ_BACKUP:
		node_backup(d, c);
		return;
	case CTL_REQ_READY:
		if (node_ready(d, msg, sizeof(msg)))
			ctl_put_done(&c->out, 0, NULL);
		else
			ctl_put_done(&c->out, -EAGAIN, msg);
		return;
	case CTL_REQ_BULK:
		ftfw_start_bulk(d->ftfw);
		snprintf(msg, sizeof(msg), "sending %zu flows to the peers",
			 cache_live(d->internal));
		ctl_put_done(&c->out, 0, msg);
		daemon_flush(d);
		return;
	default:
		ctl_put_done(&c->out, -EOPNOTSUPP, "unknown request");
		return;
	}
	ctl_put_done(&c->out, 0, NULL);
}

/* The commit is over: the requests that waited for it, in the order they
 * came, until one starts another commit. */
void request_unpark(struct daemon *d)
{
	while (!d->job && !list_empty(&d->parked)) {
		struct client *cl = container_of(d->parked.next, struct client, parked);
		uint8_t body = cl->body;
		struct ctl_frame req = { .type = cl->req, .body = &body, .len = cl->blen };

		list_del(&cl->parked);
		cl->c->waiting = false;
		request_handle(d, cl->c, &req);
		client_kick(cl);
	}
}

/* cl is closing: its parked request goes, a commit it waits for goes on. */
void request_client_gone(struct client *cl)
{
	commit_client_gone(cl->d, cl);
	if (list_linked(&cl->parked))
		list_del(&cl->parked);
}
