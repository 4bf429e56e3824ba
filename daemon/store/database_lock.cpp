#include "store/database_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace incidentd {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// The pid the holder wrote ("1234\n"), or empty while it has not written it yet.
std::string read_holder(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return {};
  std::string_view text(buffer, static_cast<std::size_t>(n));
  const auto end = text.find_first_not_of("0123456789");
  return std::string(text.substr(0, end));
}

void write_pid(int fd) {
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Best effort: the pid only makes a second daemon's message more useful.
  if (::ftruncate(fd, 0) == 0) {
    const ssize_t written = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)written;
  }
}

}  // namespace

std::string database_lock_path(const std::string& database) {
  std::string path = database;
  path.append(".lock");
  return path;
}

DatabaseLock::DatabaseLock(const std::string& database) : path_(database_lock_path(database)) {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    std::string message = "cannot create the lock file ";
    message.append(path_).append(" beside the database: ").append(errno_text(err));
    throw std::runtime_error(message);
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
    write_pid(fd_);
    return;
  }
  const int err = errno;
  const std::string holder = err == EWOULDBLOCK ? read_holder(fd_) : std::string();
  ::close(fd_);
  fd_ = -1;
  if (err != EWOULDBLOCK) {
    std::string message = "cannot lock ";
    message.append(path_).append(": ").append(errno_text(err));
    throw std::runtime_error(message);
  }
  std::string message = "database ";
  message.append(database).append(" is in use by another incidentd (");
  message.append(holder.empty() ? std::string("its pid not yet written") : "pid " + holder);
  message.append(", which holds the lock ").append(path_);
  message.append("); stop that one first, or give this one a database of its own (--database)");
  throw DatabaseLocked(message);
}

DatabaseLock::~DatabaseLock() {
  // Closing the descriptor releases the lock. The file stays: removing it would let a third
  // process lock a new file of the same name while a second still waits on the old one.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace incidentd
