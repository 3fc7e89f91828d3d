/*
 * ev.h - stands in front of libev's <ev.h> for every target but ctsyncd's
 * wiring (meson.build: deny_inc).  The event loop is src/ctsyncd's alone:
 * a core module is given the time and returns its next deadline, an I/O
 * edge hands out its descriptor.
 */
#error "<ev.h> is for src/ctsyncd only: take now and return the next deadline (see ftfw.h), or export the fd"
