/*
 * queue_pushed.c - the record of what each target holds, as far as we
 * pushed it (the "pushed" table; see queue.h): recorded after a verified
 * push, compared at start-up catch-up, moved or forgotten with renames and
 * deletes; and the multipart uploads an S3 target has in flight (the
 * "uploads" table). Statements run through queue_db.h; must not include
 * <sqlite3.h>.
 */
#include "mirror/queue.h"

#include "common/clock.h"
#include "mirror/queue_db.h"

#include <stddef.h>

int
queue_record_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, uint64_t ino)
{
	int rc;

	rc = queue_exec(q,
	    "INSERT OR REPLACE INTO pushed(target, user, path, size, "
	    "mtime_ns, ino) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	    "tttiii", target, user, path, (int64_t)size, mtime_ns,
	    (int64_t)ino);
	return rc < 0 ? -1 : 0;
}

int
queue_record_maybe_held(
    struct queue *q, const char *target, const char *user, const char *path)
{
	/* size -1 (UINT64_MAX) and time 0 match no file: the start-up
	 * catch-up pushes it again, a time job sends it whole. */
	int rc = queue_exec(q,
	    "INSERT OR IGNORE INTO pushed(target, user, path, size, "
	    "mtime_ns) VALUES(?1, ?2, ?3, -1, 0)",
	    "ttt", target, user, path);

	return rc < 0 ? -1 : 0;
}

int
queue_record_twin_dropped(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, const char *twin)
{
	int rc = queue_exec(q,
	    "INSERT OR REPLACE INTO twins_dropped(target, user, path, size, "
	    "mtime_ns, twin) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	    "tttiit", target, user, path, (int64_t)size, mtime_ns, twin);

	return rc < 0 ? -1 : 0;
}

int
queue_forget_dropped(struct queue *q, const char *target)
{
	int rc = queue_exec(
	    q, "DELETE FROM twins_dropped WHERE target=?1", "t", target);

	return rc < 0 ? -1 : 0;
}

int
queue_upload_add(
    struct queue *q, const char *target, const char *key, const char *upload_id)
{
	if (queue_exec(q,
	        "INSERT OR IGNORE INTO uploads(target, key, upload_id, "
	        "created_ms) VALUES(?1, ?2, ?3, ?4)",
	        "ttti", target, key, upload_id, clock_wall_ms()) < 0)
		return -1;
	/* On disk before the first part is sent: a power cut must not
	 * forget an upload that holds parts. */
	return queue_sync(q, queue_ticket(q));
}

int
queue_upload_forget(
    struct queue *q, const char *target, const char *key, const char *upload_id)
{
	return queue_exec(q,
	           "DELETE FROM uploads WHERE target=?1 AND key=?2 AND "
	           "upload_id=?3",
	           "ttt", target, key, upload_id) < 0 ?
	    -1 :
	    0;
}

/* ino 0: not compared (the caller's, or a row of a version that did not
 * record it); the kernel gives no file inode 0. */
const char queue_pushed_match_sql[] =
    "SELECT count(*) FROM pushed WHERE target=?1 AND user=?2 AND "
    "path=?3 AND size=?4 AND mtime_ns=?5 AND (?6=0 OR ino=0 OR ino=?6)";

const char queue_pushed_at_sql[] =
    "SELECT count(*) FROM pushed WHERE target=?1 AND user=?2 AND path=?3";

int
queue_is_pushed(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, int64_t mtime_ns, uint64_t ino)
{
	return queue_count(q, queue_pushed_match_sql, target, user, path,
	    (int64_t)size, mtime_ns, (int64_t)ino);
}

int
queue_pushed_size(struct queue *q, const char *target, const char *user,
    const char *path, uint64_t size, uint64_t ino)
{
	return queue_count(q,
	    "SELECT count(*) FROM pushed WHERE target=?1 AND user=?2 AND "
	    "path=?3 AND size=?4 AND (?5=0 OR ino=0 OR ino=?5)",
	    target, user, path, (int64_t)size, (int64_t)ino, 0);
}

int
queue_pushed_at(
    struct queue *q, const char *target, const char *user, const char *path)
{
	return queue_count(q, queue_pushed_at_sql, target, user, path, 0, 0, 0);
}

int
queue_pushed_by_others(
    struct queue *q, const char *target, const char *user, const char *path)
{
	return queue_count(q,
	    "SELECT count(*) FROM pushed WHERE target=?1 AND user<>?2 AND "
	    "path=?3",
	    target, user, path, 0, 0, 0);
}

int
queue_pushed_below(
    struct queue *q, const char *target, const char *user, const char *path)
{
	/* The range of queue_move_pushed, without the path itself. */
	return queue_count(q,
	    "SELECT count(*) FROM (SELECT 1 FROM pushed WHERE target=?1 AND "
	    "user=?2 AND path >= ?3 || '/' AND path < ?3 || '0' LIMIT 1)",
	    target, user, path, 0, 0, 0);
}

int
queue_move_pushed(struct queue *q, const char *target, const char *user,
    const char *path, const char *new_path)
{
	int rc;

	/* A range, not LIKE: '_' and '%' are names here, and case
	 * matters ('/' + 1 is '0' in ASCII). */
	if (new_path == NULL)
		rc = queue_exec(q,
		    "DELETE FROM pushed WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR (path >= ?3 || '/' AND path < ?3 || '0'))",
		    "ttt", target, user, path);
	else
		rc = queue_exec(q,
		    /* Byte-wise: the tail is cut as a blob, so a name
		     * that is not UTF-8 is carried over intact. */
		    "UPDATE OR REPLACE pushed SET path=?4 || "
		    "substr(CAST(path AS BLOB), length(CAST(?3 AS BLOB)) + "
		    "1) WHERE target=?1 AND user=?2 AND "
		    "(path=?3 OR (path >= ?3 || '/' AND path < ?3 || '0'))",
		    "tttt", target, user, path, new_path);
	return rc < 0 ? -1 : 0;
}
