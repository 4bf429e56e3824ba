// Tests that run a server on an io_context in a thread of its own reach its objects from the
// test thread through this: fn runs on the loop, and its result (or exception) comes back.
#pragma once

#include <future>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace incidentd::testing {

template <typename F>
auto run_on(boost::asio::io_context& io, F fn) -> decltype(fn()) {
  std::packaged_task<decltype(fn())()> task(std::move(fn));
  auto result = task.get_future();
  boost::asio::post(io, [&task] { task(); });
  return result.get();
}

}  // namespace incidentd::testing
