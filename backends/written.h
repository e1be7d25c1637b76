/*
 * written.h - what a backend ctx last wrote under each of a few names (its
 * agent's own entry and its app's, issue 12), so that publish can tell a
 * heartbeat (the same text again: refresh only, no change signal) from a
 * new or changed entry (issue 15). Private to the file and S3 backends;
 * header-only, no I/O. A name not in the table counts as changed.
 */
#ifndef ROLLCALL_BACKENDS_WRITTEN_H
#define ROLLCALL_BACKENDS_WRITTEN_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rollcall/names.h"

#define RC_WRITTEN_SLOTS 4
#define RC_WRITTEN_TEXT_MAX 2048

struct rc_written {
    struct {
        char name[RC_NAME_MAX + 1]; /* "" = free */
        char text[RC_WRITTEN_TEXT_MAX];
        size_t len;
    } slot[RC_WRITTEN_SLOTS];
    unsigned next; /* round-robin victim when full */
};

/* true when name was last written with exactly text. */
static inline bool rc_written_same(const struct rc_written *w, const char *name, const char *text,
                                   size_t len)
{
    for (unsigned i = 0; i < RC_WRITTEN_SLOTS; i++)
        if (w->slot[i].name[0] != '\0' && strcmp(w->slot[i].name, name) == 0)
            return w->slot[i].len == len && memcmp(w->slot[i].text, text, len) == 0;
    return false;
}

/* Notes that name now holds text (forgotten if text is too long to keep). */
static inline void rc_written_set(struct rc_written *w, const char *name, const char *text,
                                  size_t len)
{
    unsigned i;

    for (i = 0; i < RC_WRITTEN_SLOTS; i++)
        if (strcmp(w->slot[i].name, name) == 0)
            break;
    if (i == RC_WRITTEN_SLOTS) {
        for (i = 0; i < RC_WRITTEN_SLOTS && w->slot[i].name[0] != '\0'; i++)
            ;
        if (i == RC_WRITTEN_SLOTS)
            i = w->next++ % RC_WRITTEN_SLOTS;
    }
    if (len > sizeof(w->slot[i].text)) {
        w->slot[i].name[0] = '\0';
        return;
    }
    snprintf(w->slot[i].name, sizeof(w->slot[i].name), "%s", name);
    memcpy(w->slot[i].text, text, len);
    w->slot[i].len = len;
}

/* Forgets name (removed). */
static inline void rc_written_forget(struct rc_written *w, const char *name)
{
    for (unsigned i = 0; i < RC_WRITTEN_SLOTS; i++)
        if (strcmp(w->slot[i].name, name) == 0)
            w->slot[i].name[0] = '\0';
}

#endif
