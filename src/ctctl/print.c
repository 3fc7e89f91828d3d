/* placeholder: being written */
extern int ctsync_placeholder_print;
