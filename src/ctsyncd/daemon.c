/* placeholder */
extern int ctsync_placeholder_daemon;
