// When the store copies its write-ahead log back into the database file: the one setting of the
// WAL checkpoint room (wal_checkpointer.hpp), apart so the store's users need no SQLite header.
#pragma once

namespace incidentd {

// When a read_write SqliteStore copies its WAL back into the database file, in pages of the WAL
// after a commit. From `background_after` on, a thread of the store's checkpoints while the
// committer goes on (0: no thread); from `foreground_after` on (the thread has fallen behind, or
// a reader holds old pages), the commit checkpoints before it returns.
struct WalCheckpoints {
  int background_after = 16384;  // 64 MB of 4 KB pages
  int foreground_after = 65536;  // 256 MB
};

}  // namespace incidentd
