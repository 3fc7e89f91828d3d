/*
 * test_control.c - the control server's bounds on reply memory: a client
 * that does not read its replies is not read either (CONTROL_OUT_HIGH),
 * and the replies unsent to all clients are capped (CONTROL_OUT_TOTAL
 * for dumps, idle clients closed first); a request answered later (a
 * commit) holds the client's next requests back.  Real UNIX sockets in a
 * temp dir; the handler stands in for the daemon.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "ctl_proto.h"

#define NCLIENTS	6

struct fixture {
	char dir[64];
	char path[96];
	struct control srv;
	int peer[NCLIENTS];			/* the clients' ends */
	struct ctl_client *c[NCLIENTS];		/* the daemon's */
	size_t reply_len;			/* what each request costs */
	unsigned handled;
	unsigned closed[NCLIENTS];		/* by close_cb */
	uint16_t types[8];			/* of the requests handled */
	bool defer;				/* handler: answer later */
};

/* A reply of f->reply_len bytes in maximum-size frames, then DONE. */
static void handler(void *arg, struct ctl_client *c, const struct ctl_frame *req)
{
	static uint8_t body[CTL_MAX_FRAME - CTL_HDR_LEN];
	struct fixture *f = arg;
	size_t left = f->reply_len;

	if (f->handled < 8)
		f->types[f->handled] = req->type;
	f->handled++;
	if (f->defer) {
		c->waiting = true;	/* the daemon answers it later */
		return;
	}
	while (left) {
		size_t n = left < sizeof(body) ? left : sizeof(body);

		assert_int_equal(ctl_put_frame(&c->out, CTL_REP_KV, body, n), 0);
		left -= n;
	}
	ctl_put_done(&c->out, 0, NULL);
}

static void close_cb(void *arg, struct ctl_client *victim)
{
	struct fixture *f = arg;

	for (int i = 0; i < NCLIENTS; i++)
		if (f->c[i] == victim) {
			f->closed[i]++;
			f->c[i] = NULL;
		}
	control_client_free(victim);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_control.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	lfd = control_listen(f->path, "", 0600);
	assert_true(lfd >= 0);
	control_init(&f->srv, lfd);
	strcpy(sun.sun_path, f->path);
	for (int i = 0; i < NCLIENTS; i++) {
		f->peer[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(f->peer[i] >= 0);
		assert_int_equal(connect(f->peer[i], (struct sockaddr *)&sun,
					 sizeof(sun)), 0);
		f->c[i] = control_accept(&f->srv);
		assert_non_null(f->c[i]);
	}
	assert_int_equal(f->srv.nclients, NCLIENTS);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < NCLIENTS; i++) {
		control_client_free(f->c[i]);
		close(f->peer[i]);
	}
	assert_int_equal(f->srv.nclients, 0);
	assert_int_equal(f->srv.out_total, 0);
	close(f->srv.fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* n requests of type on client i's end, in one write. */
static void send_reqs(struct fixture *f, int i, uint16_t type, unsigned n)
{
	struct ctl_buf b = { 0 };
	uint8_t body[1] = { CTL_CACHE_INTERNAL };

	for (unsigned k = 0; k < n; k++)
		assert_int_equal(ctl_put_frame(&b, type, body,
					       type == CTL_REQ_DUMP ? 1 : 0), 0);
	assert_int_equal(write(f->peer[i], b.data, b.len), (ssize_t)b.len);
	ctl_buf_free(&b);
}

/* Read and drop whatever client i's end has, without blocking. */
static size_t drain_peer(struct fixture *f, int i)
{
	static uint8_t buf[1 << 16];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(f->peer[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* A request answered later (a commit) holds the client's next ones back,
 * so its answers keep their order; they are taken once it is answered. */
static void test_waiting(void **state)
{
	struct fixture *f = *state;

	send_reqs(f, 0, CTL_REQ_COMMIT, 1);
	send_reqs(f, 0, CTL_REQ_STATUS, 2);
	f->defer = true;
	assert_int_equal(control_client_read(f->c[0], handler, close_cb, f), 0);
	assert_int_equal(f->handled, 1);
	assert_false(control_client_wants_read(f->c[0]));
	/* Read again (the socket stays readable): still nothing taken. */
	assert_int_equal(control_client_read(f->c[0], handler, close_cb, f), 0);
	assert_int_equal(f->handled, 1);
	assert_int_equal(drain_peer(f, 0), 0);

	/* The commit's answer, then what waited. */
	f->defer = false;
	f->c[0]->waiting = false;
	assert_int_equal(ctl_put_done(&f->c[0]->out, 0, NULL), 0);
	assert_true(control_client_wants_read(f->c[0]));
	assert_int_equal(control_client_read(f->c[0], handler, close_cb, f), 0);
	assert_int_equal(f->handled, 3);
	assert_int_equal(f->types[0], CTL_REQ_COMMIT);
	assert_int_equal(f->types[1], CTL_REQ_STATUS);
	assert_int_equal(f->types[2], CTL_REQ_STATUS);
	assert_int_equal(control_client_write(f->c[0]), 0);
	assert_int_equal(drain_peer(f, 0), 3 * (CTL_HDR_LEN + 4));	/* three DONEs */
}

/* A client that pipelines requests is not read past CONTROL_OUT_HIGH of
 * unsent replies; once it reads them, the rest are handled. */
static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	struct ctl_client *c = f->c[0];
	unsigned want = (CONTROL_OUT_HIGH + 300000 - 1) / 300000;

	f->reply_len = 300000;
	send_reqs(f, 0, CTL_REQ_STATS, 10);
	assert_int_equal(control_client_read(c, handler, close_cb, f), 0);
	assert_int_equal(f->handled, want);
	assert_false(control_client_wants_read(c));
	assert_true(f->srv.out_total >= CONTROL_OUT_HIGH);
	/* Not read while over the mark: nothing more is handled. */
	assert_int_equal(control_client_read(c, handler, close_cb, f), 0);
	assert_int_equal(f->handled, want);

	/* The client reads; the daemon writes and takes the rest. */
	for (int turn = 0; turn < 10000 && f->handled < 10; turn++) {
		assert_true(control_client_write(c) >= 0);
		drain_peer(f, 0);
		if (control_client_wants_read(c))
			assert_int_equal(control_client_read(c, handler,
							     close_cb, f), 0);
	}
	assert_int_equal(f->handled, 10);
	while (control_client_write(c) > 0)
		drain_peer(f, 0);
	assert_int_equal(f->srv.out_total, 0);
}

/* Dumps stop at CONTROL_OUT_TOTAL across clients: refused while every
 * other client is active, and an idle one is closed to make room. */
static void test_total_cap(void **state)
{
	struct fixture *f = *state;
	const size_t big = 17u << 20;
	const unsigned fit = CONTROL_OUT_TOTAL / big + 1;	/* 4 */
	struct timespec idle = { CONTROL_IDLE_MS / 1000,
				 (CONTROL_IDLE_MS % 1000) * 1000000L + 100000000L };
	int32_t status;
	const char *msg;
	struct ctl_frame fr;
	uint8_t buf[256];
	ssize_t n;

	f->reply_len = big;
	for (unsigned i = 0; i < fit; i++) {
		send_reqs(f, (int)i, CTL_REQ_DUMP, 1);
		assert_int_equal(control_client_read(f->c[i], handler,
						     close_cb, f), 0);
	}
	assert_int_equal(f->handled, fit);
	assert_true(f->srv.out_total >= CONTROL_OUT_TOTAL);

	/* Everyone active less than CONTROL_IDLE_MS ago (the dumpers have
	 * just had some of their replies written, the last client asks for
	 * a small reply, which CONTROL_OUT_HARD lets through): refused. */
	for (unsigned i = 0; i < fit; i++)
		assert_int_equal(control_client_write(f->c[i]), 1);
	assert_true(f->srv.out_total >= CONTROL_OUT_TOTAL);
	f->reply_len = 100;
	send_reqs(f, (int)fit + 1, CTL_REQ_STATUS, 1);
	assert_int_equal(control_client_read(f->c[fit + 1], handler,
					     close_cb, f), 0);
	assert_int_equal(f->handled, fit + 1);
	f->reply_len = big;
	send_reqs(f, (int)fit, CTL_REQ_DUMP, 1);
	assert_int_equal(control_client_read(f->c[fit], handler, close_cb, f), 0);
	assert_int_equal(f->handled, fit + 1);
	assert_int_equal(f->srv.refused, 1);
	assert_int_equal(control_client_write(f->c[fit]), 0);
	n = recv(f->peer[fit], buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(n > 0);
	assert_true(ctl_frame_get(buf, (size_t)n, &fr) > 0);
	assert_int_equal(ctl_get_done(&fr, &status, &msg), 0);
	assert_int_equal(status, -ENOBUFS);

	/* A small request from it still gets through. */
	f->reply_len = 100;
	send_reqs(f, (int)fit, CTL_REQ_STATUS, 1);
	assert_int_equal(control_client_read(f->c[fit], handler, close_cb, f), 0);
	assert_int_equal(f->handled, fit + 2);
	assert_int_equal(f->srv.evicted, 0);

	/* Once the idlest has made no progress for CONTROL_IDLE_MS it is
	 * closed for the next dump, which is then handled. */
	nanosleep(&idle, NULL);
	f->reply_len = big;
	send_reqs(f, (int)fit + 1, CTL_REQ_DUMP, 1);
	assert_int_equal(control_client_read(f->c[fit + 1], handler,
					     close_cb, f), 0);
	assert_int_equal(f->handled, fit + 3);
	assert_int_equal(f->closed[0], 1);
	assert_int_equal(f->srv.evicted, 1);
	assert_int_equal(f->srv.nclients, NCLIENTS - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
