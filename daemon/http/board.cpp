#include "http/board.hpp"

#include <stdexcept>

#include "crypto/crypto.hpp"
#include "http/server.hpp"

namespace incidentd::http {
namespace {

// "sha256-<base64>", the CSP source expression allowing exactly this inline text.
std::string csp_hash(std::string_view text) {
  return "'sha256-" + crypto::base64(crypto::sha256(text)) + "'";
}

std::string replace_once(std::string text, std::string_view marker, std::string_view with) {
  const auto at = text.find(marker);
  if (at == std::string::npos) throw std::logic_error("board.html lacks " + std::string(marker));
  return text.replace(at, marker.size(), with);
}

BoardPage build() {
  BoardPage page;
  page.html = replace_once(std::string(kBoardHtml), "/*BOARD_CSS*/", kBoardCss);
  page.html = replace_once(std::move(page.html), "/*BOARD_JS*/", kBoardJs);
  // Nothing but this page's own style and script; fetches only to this server; no framing, no
  // form posts anywhere, no base-URI tricks.
  page.csp = "default-src 'self'; script-src " + csp_hash(kBoardJs) + "; style-src " +
             csp_hash(kBoardCss) +
             "; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'";
  return page;
}

}  // namespace

const BoardPage& board_page() {
  static const BoardPage kPage = build();
  return kPage;
}

void install_board(Server& server) {
  server.route("GET", "/board", [](const Request&) {
    const BoardPage& page = board_page();
    Response r = Response::text(200, page.html, "text/html; charset=utf-8");
    r.headers.emplace_back("Content-Security-Policy", page.csp);
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace incidentd::http
