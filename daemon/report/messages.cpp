#include "report/messages.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

namespace incidentd::report {
namespace {

struct Message {
  std::string_view id, zh, en;
};

// Placeholders are fmt's {0}, {1}: each language puts them where its grammar wants them.
// The legal terms follow the provincial plan (item 27): 首次发布权威信息, 新闻发布会, 持续发布,
// 目标时限 (3 h, "力争"), 最迟时限 (5 h, "最迟不超过"), 主要负责同志.
constexpr Message kMessages[] = {
    // words and separators
    {"list.comma", "，", ", "},
    {"list.separator", "；", "; "},
    {"word.yes", "是", "yes"},
    {"word.no", "否", "no"},
    {"html.lang", "zh-CN", "en"},
    {"unit.d", "天", "d"},
    {"unit.h", "小时", "h"},
    {"unit.min", "分钟", "min"},
    {"unit.s", "秒", "s"},
    {"duration.first", "{0}{1}", "{0} {1}"},
    {"duration.next", "{0}{1}", " {0} {1}"},
    {"duration.zero", "0分钟", "0 min"},
    {"time.on_the_minute", "准时", "on the minute"},
    {"time.early", "提前{0}", "{0} early"},
    {"time.late", "晚{0}", "{0} late"},
    // the plan's terms
    {"level.named", "{0}级（{1}）", "{0}"},
    {"level.I", "特别重大", "especially major"},
    {"level.II", "重大", "major"},
    {"level.III", "较大", "large"},
    {"level.IV", "一般", "ordinary"},
    {"milestone.first_release", "首次发布权威信息", "first release"},
    {"milestone.press_conference", "新闻发布会", "press conference"},
    {"milestone.follow_up", "持续发布", "follow-up"},
    {"milestone.follow_up_round", "持续发布（第{0}次）", "follow-up {0}"},
    {"action.warning", "预警", "warning"},
    {"action.target_missed", "超过目标时限", "target missed"},
    {"action.deadline_breached", "超过最迟时限", "deadline breached"},
    {"action.escalated", "升级", "escalated"},
    {"role.duty", "值班人员", "duty officer"},
    {"role.leader", "单位负责人", "unit leader"},
    {"role.principal", "主要负责同志", "principal leader"},
    {"role.deputy", "备岗人员", "deputy"},
    {"speaker.principal", "主要负责同志", "principal"},
    {"speaker.deputy", "分管负责同志", "deputy"},
    {"speaker.spokesperson", "新闻发言人", "spokesperson"},
    {"person.anonymous", "{1}人员{0}", "person {0} in {1}"},
    // the model's stable words
    {"status.met on time", "按时完成", "met on time"},
    {"status.met after the target", "超过目标时限后完成", "met after the target"},
    {"status.met after the deadline", "超过最迟时限后完成", "met after the deadline"},
    {"status.no clock", "未计时", "no clock"},
    {"status.not met: deadline passed", "未完成：已超过最迟时限", "not met: deadline passed"},
    {"status.not due: incident closed first", "未到期：事件已先关闭",
     "not due: incident closed first"},
    {"status.not met yet", "尚未完成", "not met yet"},
    {"delivery.delivered", "已送达", "delivered"},
    {"delivery.failed", "发送失败", "failed"},
    {"delivery.pending", "待确认", "pending"},
    {"delivery_note.no delivery recorded yet", "尚无送达记录", "no delivery recorded yet"},
    {"delivery_note.not in the outbox", "发件队列中无记录", "not in the outbox"},
    {"delivery.deputy_of", "{0}的备岗", "deputy of {0}"},
    // why the dispatcher gave a notification up (DeliveryReport::GiveUp)
    {"gave_up.not_delivered_since", "自{0}起未能送达，已达{1}",
     "not delivered since {0}, {1} or longer"},
    {"gave_up.channel_failed", "{0}渠道永久失败，且无其他渠道",
     "{0} failed permanently and there is no other channel"},
    {"gave_up.every_channel_failed", "所有渠道均永久失败", "every channel failed permanently"},
    {"gave_up.not_in_roster", "收件人不在人员名册中", "the recipient is not in the roster"},
    {"gave_up.superseded", "已被同一节点的后续提醒取代",
     "superseded by a later alert about the same milestone"},
    {"gave_up.error", "最后答复：{0}", "last answer: {0}"},
    {"gave_up.told", "已告知值班台：{0}", "operator desk told: {0}"},
    {"delivery.deputy_of_paren", "（{0}的备岗）", " (deputy of {0})"},
    // incidentctl list, show and watch (daemon/ctl/state_text.cpp): terse, for a terminal; the
    // level and milestone words are the plan's, as above.
    {"state.hdr_key", "事件", "KEY"},
    {"state.hdr_level", "级别", "LEVEL"},
    {"state.hdr_title", "标题", "TITLE"},
    {"state.hdr_units", "责任单位", "UNITS"},
    {"state.hdr_next", "下一步", "NEXT STEP"},
    {"state.hdr_at", "时间", "AT"},
    {"state.hdr_countdown", "倒计时", "COUNTDOWN"},
    {"state.hdr_milestones", "各项时限", "MILESTONES"},
    {"state.level_I", "I 特别重大", "I"},
    {"state.level_II", "II 重大", "II"},
    {"state.level_III", "III 较大", "III"},
    {"state.level_IV", "IV 一般", "IV"},
    {"state.ms_first_release", "首次发布权威信息", "first release"},
    {"state.ms_press_conference", "新闻发布会", "press conference"},
    {"state.ms_follow_up", "持续发布", "follow-up release"},
    {"state.short_first_release", "首发", "release"},
    {"state.short_press_conference", "发布会", "press"},
    {"state.short_follow_up", "持续", "follow-up"},
    {"state.state_pending", "待完成", "pending"},
    {"state.state_late", "已过目标", "past target"},
    {"state.state_breached", "已超时", "breached"},
    {"state.state_met", "已完成", "met"},
    {"state.action_warning", "预警", "warning"},
    {"state.action_target_missed", "超过目标时限", "target missed"},
    {"state.action_deadline_breached", "超过最迟时限", "deadline breached"},
    {"state.action_reminder", "超期提醒", "overdue reminder"},
    {"state.left", "剩{0}", "{0} left"},
    {"state.breached_ago", "已超时{0}", "breached {0} ago"},
    {"state.target_ago", "超目标{0}", "target missed {0} ago"},
    {"state.in", "{0}后", "in {0}"},
    {"state.none", "—", "-"},
    {"state.no_incidents", "没有未结束的事件。", "No open incidents."},
    {"state.units", "责任单位", "Units"},
    {"state.lead", "牵头", "lead"},
    {"state.clock_start", "计时开始", "Clock started"},
    {"state.no_clock", "未计时（III、IV级）", "no clock (level III/IV)"},
    {"state.opened", "首次监测", "First detected"},
    {"state.closed_at", "已结束", "Closed"},
    {"state.by_hand", "（{}人工录入）", " (by hand by {})"},
    {"state.milestones", "时限", "Milestones"},
    {"state.target", "目标", "target"},
    {"state.deadline", "最迟时限", "deadline"},
    {"state.confirmed", "已确认发布", "confirmed"},
    {"state.nobody", "无", "none"},
    {"state.next_step", "下一步", "Next step"},
    {"state.to_come", "待执行", "Steps to come"},
    {"state.notified", "已通知", "Notified"},
    {"state.acknowledged", "已确认收到 {0}", "acknowledged {0}"},
    {"state.not_acknowledged", "未确认收到", "not acknowledged"},
    {"state.times", "{0}次", "{0}x"},
    {"state.drill", "【演练】", "[DRILL] "},
    {"state.closed", "【已结束】", "[closed] "},
    {"state.level_word", "{0}级", "level {0}"},
    {"state.watch_title", "incidentd 值班视图 · {0}", "incidentd duty view · {0}"},
    {"state.watch_quit", "按 Ctrl-C 退出", "Ctrl-C to quit"},
    {"state.source_silent", "监测来源已静默（最后一条事件：{0}）",
     "monitoring source silent (last event {0})"},
    {"state.lost", "与守护进程的连接已断开，正在重连……", "lost the daemon, reconnecting..."},
    {"state.waiting", "正在连接……", "connecting..."},
    {"state.under_1m", "不到1分", "<1m"},
    {"state.d", "{0}天", "{0}d"},
    {"state.h", "{0}小时", "{0}h"},
    {"state.m", "{0}分", "{0}m"},
    // the after-action report
    {"report.title", "事后评估报告：{0}", "After-action report: {0}"},
    {"report.title_upper", "事后评估报告：{0}", "AFTER-ACTION REPORT: {0}"},
    {"report.title_short", "事后评估报告 {0}", "After-action report {0}"},
    {"notice.drill", "演练：非真实事件，不计入统计。",
     "DRILL: an exercise, not a real incident; left out of the statistics."},
    {"notice.full",
     "完整报告：含个人信息（姓名、电话号码、联系地址）。仅供内部复盘；公开前须去标识化处理"
     "（工作方案第95项）。",
     "FULL REPORT: CONTAINS PERSONAL DATA (names, phone numbers, contact addresses). For internal "
     "review only; de-identify before publication (plan item 95)."},
    {"notice.deidentified",
     "个人信息已去标识化：人员以角色和单位表示，电话号码已遮蔽（工作方案第95项）。",
     "Personal data de-identified: people appear as role and unit, phone numbers are masked "
     "(plan item 95)."},
    {"notice.no_roster", "未提供人员名册，角色不详。",
     " No roster was given, so roles are unknown."},
    {"notice.times", "时间为 {0}（{1}）。生成于 {2}。", "Times are in {0} ({1}). Generated {2}."},
    {"notice.delivery",
     "每人每条提醒一行。送达情况以发件队列的记录为准：“待确认”表示尚未记录送达或失败。"
     "确认用时从该提醒首次发给此人时起算。",
     "One row per person and alert. Delivery is what the dispatcher recorded in the outbox: "
     "\"pending\" means no delivery or failure has been recorded yet. Time to acknowledge counts "
     "from the alert's first send to that person."},
    {"report.incident", "事件", "Incident"},
    {"report.field", "项目", "Field"},
    {"report.value", "内容", "Value"},
    {"report.chart", "时间线图", "Timeline chart"},
    {"report.level_history", "级别变化", "Level history"},
    {"report.legal_clock", "法定时限", "Legal clock"},
    {"report.no_clock", "本事件未启动计时（其级别从未达到计时的级别）。",
     "No clock ran for this incident (its level never opened one)."},
    {"report.milestone_colon", "{0}：", "{0}:"},
    {"report.ladder", "预警与升级经过", "Ladder as it happened"},
    {"report.no_ladder", "无预警、无超时、无升级：各节点均在首次预警前完成。",
     "No warning, missed target, breach or escalation: every milestone was met before its first "
     "warning."},
    {"report.notifications", "通知", "Notifications"},
    {"report.nobody_notified", "未通知任何人。", "Nobody was notified."},
    {"report.gaps", "迟到与中断", "Gaps"},
    {"report.no_gaps", "无：所有事件均按时到达，每个到期时点均按时处置。",
     "None: every event arrived on time and the engine acted at every due instant."},
    {"report.tamper", "防篡改校验", "Tamper evidence"},
    {"field.key", "事件编号", "Key"},
    {"field.title", "标题", "Title"},
    {"field.level", "级别", "Level"},
    {"field.see_levels", "（见级别变化）", " (see level history)"},
    {"field.category", "类别", "Category"},
    {"field.region", "地区", "Region"},
    {"field.lead_unit", "牵头单位", "Lead unit"},
    {"field.units", "责任单位", "Units"},
    {"field.drill", "演练", "Drill"},
    {"field.detected", "发现时间", "Detected"},
    {"field.first_recorded", "首次记录", "First recorded"},
    {"field.clock", "计时", "Clock"},
    {"field.clock_started", "{0} 开始", "started {0}"},
    {"field.no_clock", "无（级别从未达到计时的级别）", "none (level never opened one)"},
    {"field.status", "状态", "Status"},
    {"field.closed", "{0} 已关闭", "closed {0}"},
    {"field.open", "处置中", "open"},
    {"field.timeline_entries", "时间线条目", "Timeline entries"},
    {"col.recorded", "记录时间", "Recorded"},
    {"col.detected", "发现时间", "Detected"},
    {"col.level", "级别", "Level"},
    {"col.change", "变化", "Change"},
    {"col.milestone", "节点", "Milestone"},
    {"col.target", "目标时限", "Target"},
    {"col.deadline", "最迟时限", "Deadline"},
    {"col.met", "完成（发布时间）", "Met (released)"},
    {"col.against_target", "对照目标时限", "Against target"},
    {"col.against_deadline", "对照最迟时限", "Against deadline"},
    {"col.status", "状态", "Status"},
    {"col.time", "时间", "Time"},
    {"col.action", "动作", "Action"},
    {"col.due", "所涉时限", "About (due)"},
    {"col.notified", "通知人数", "Notified"},
    {"col.note", "备注", "Note"},
    {"col.first_sent", "首次发送", "First sent"},
    {"col.recipient", "接收人", "Recipient"},
    {"col.channel", "渠道", "Channel"},
    {"col.alert", "提醒", "Alert"},
    {"col.sends", "发送次数", "Sends"},
    {"col.delivery", "送达", "Delivery"},
    {"col.acknowledged", "确认收到", "Acknowledged"},
    {"col.time_to_ack", "确认用时", "Time to ack"},
    {"level.opened", "首次记录", "opened"},
    {"level.clock_started", "；开始计时", "; clock started"},
    {"level.by_hand", "（{0}人工录入）", " by hand by {0}"},
    {"ladder.escalated_note", "级别 {0} → {1}", "level {0} → {1}"},
    {"ladder.reminder", "第{0}次提醒", "reminder {0}"},
    {"ladder.catch_up", "补办（延迟执行）", "catch-up (acted late)"},
    {"release.released", "{0} 于 {1} 发布", "{0} released {1}"},
    {"release.on", "，渠道：{0}", " on {0}"},
    {"release.speaker", "，发布人：{0}", ", speaker: {0}"},
    {"release.confirmed", "（{0} 确认）", " (confirmed {0})"},
    {"release.confirmed_via", "（{0} 经 {1} 确认）", " (confirmed {0} via {1})"},
    {"release.none", "尚无发布确认", "no release confirmed"},
    {"release.principal_spoke", "主要负责同志带头主动发声，符合工作方案要求。",
     "The principal leader spoke in person, as the plan asks."},
    {"release.principal_silent", "主要负责同志未亲自发声（工作方案要求其带头主动发声）。",
     "The principal leader did not speak in person (the plan asks for it)."},
    {"gap.late_event_at", "{0} 事件迟到", "Late event at {0}"},
    {"gap.outage_at", "{0} 处置中断", "Outage at {0}"},
    {"gap.daemon_outage", "incidentd 停止运行：{0} 至 {1}（{2}）：{3}。",
     "Outage of incidentd from {0} to {1} ({2}): {3}."},
    {"gap.daemon_outage_what", "incidentd 未运行：自其最后一次记录存活至重启，重启时记录此中断",
     "incidentd was not running: from the last instant it had recorded itself alive to its "
     "restart, which recorded the gap"},
    {"gap.daemon_outage_restart", "；重启时处置：{0}", "; acted on at the restart: {0}"},
    {"gap.after", "，距 {1} 晚 {0}", ", {0} after {1}"},
    {"gap.what", "：{0}。", ": {0}."},
    {"gap.first_event_late", "首个事件迟到；计时从发现时间起算",
     "the first event arrived late; the clock counts from its detection"},
    {"gap.raising_event_late", "将其升为{0}级的事件迟到；计时从发现时间起算",
     "the event raising it to {0} arrived late; the clock counts from its detection"},
    {"gap.step", "{0}：{1}", "{0}: {1}"},
    {"gap.step_reminder", "（第{0}次提醒）", " (reminder {0})"},
    {"gap.late_arrival_what", "迟到事件到达前已到期的步骤，在其到达时处置（{0}）",
     "what fell due before a late arrival was acted on when it arrived ({0})"},
    {"gap.outage_what", "引擎延迟处置（守护进程停机或停滞），仅处置最近一个到期步骤（{0}）",
     "the engine acted late (daemon down or stalled); only the latest due step acted ({0})"},
    {"chain.heads_digest", "数据库各事件哈希链头摘要：SHA-256 {0}",
     "Digest of every incident's chain head in the database: SHA-256 {0}"},
    {"chain.incident_head",
     "本事件最后一条记录：本事件哈希链第 {0} 条（同一步骤的各条通知共用一条），SHA-256 {1}",
     "Last entry of this incident: entry {0} of its chain (a step's notifications share one), "
     "SHA-256 {1}"},
    {"chain.verify",
     "日后核对本报告：运行 `incidentctl verify --database "
     "{0}`，各哈希链须完整，且本事件哈希链的该条"
     "记录须带有此哈希值；此后若无新记录，其打印的链头摘要与上列相同。",
     "To check this report later, run `incidentctl verify --database {0}`: every chain must be "
     "intact and this incident's entry must carry this hash; with no entry added since, the "
     "digest it prints is the one above."},
    {"csv.report_header",
     "分区,序号,时间,节点,类型,级别,所涉时限,目标时限,最迟时限,发布时间,单位,人员,渠道,发送次数,"
     "送达,确认收到时间,分钟,详情",
     "section,seq,at,milestone,kind,level,due,target,deadline,released_at,unit,person,channel,"
     "sends,delivery,acknowledged_at,minutes,detail"},
    {"csv.from_level", "由{0}级", "from {0}"},
    {"csv.clock_started", "开始计时", "clock started"},
    {"csv.by_hand", "{0}人工录入", "by hand by {0}"},
    {"csv.against_target", "对照目标时限：{0}", "against target: {0}"},
    // the chart
    {"chart.aria", "事件计时时间线", "Timeline of the incident clock"},
    {"chart.late_event", "事件迟到", "late event"},
    {"chart.outage", "处置中断", "outage"},
    {"chart.daemon_outage", "incidentd 停止运行（已记录）", "incidentd down (recorded)"},
    {"chart.level_recorded", "{1} 记录级别 {0}", "level {0} recorded {1}"},
    {"chart.closed", "{0} 关闭", "closed {0}"},
    {"chart.running_until", "计时至最迟时限 {0}", "running until the deadline {0}"},
    {"chart.deadline", "最迟时限 {0}", "deadline {0}"},
    {"chart.target", "目标时限 {0}", "target {0}"},
    {"chart.ladder", "{2} {0}（{1}级）", "{0} L{1} at {2}"},
    {"chart.catch_up", "（补办）", " (catch-up)"},
    {"chart.met", "完成，{0} 发布（{1}）", "met, released {0} ({1})"},
    {"chart.notified", "{1} 通知 {0}", "notified {0} {1}"},
    {"chart.acknowledged", "{0} 确认收到", "acknowledged {0}"},
    {"legend.warning", "▲ 黄色：预警", "▲ yellow: warning"},
    {"legend.target_missed", "▲ 橙色：超过目标时限", "▲ orange: target missed"},
    {"legend.breached", "■ 红色：超过最迟时限", "■ red: deadline breached"},
    {"legend.met_on_time", "◆ 绿色：按时完成", "◆ green: met on time"},
    {"legend.met_late", "◆ 紫色：逾时完成", "◆ purple: met late"},
    {"legend.target", "橙色虚线：目标时限", "dashed orange: target"},
    {"legend.deadline", "红色竖线：最迟时限", "red bar: deadline"},
    {"legend.notifications", "蓝色刻度：通知；绿点：确认收到",
     "blue ticks: notifications, green dots: acknowledged"},
    {"legend.gap", "灰色带：迟到或中断", "grey band: gap"},
    // the statistics
    {"stats.title", "政务舆情处置统计", "Incident statistics"},
    {"stats.title_upper", "政务舆情处置统计", "INCIDENT STATISTICS"},
    {"stats.html_title", "政务舆情处置统计 {0} 至 {1}", "Incident statistics {0} to {1}"},
    {"stats.scope_line", "计时开始于 {0} 至 {1}（含）的事件（{2}，{3}）。",
     "Incidents whose clock started from {0} to {1} inclusive ({2}, {3}). "},
    {"stats.drills_included", "含演练。", "Drills included."},
    {"stats.drills_left_out", "未计入演练 {0} 起。", "Drills left out: {0}."},
    {"stats.generated", "生成于 {0}。", " Generated {0}."},
    {"stats.overall", "总体", "Overall"},
    {"stats.by.unit", "按单位", "By unit"},
    {"stats.by.region", "按地区", "By region"},
    {"stats.by.level", "按级别", "By level"},
    {"stats.by.quarter", "按季度", "By quarter"},
    {"stats.by.none", "不分组", "By none"},
    {"stats.breaches_per_unit", "各单位超时情况", "Breaches per unit"},
    {"stats.group", "分组", "Group"},
    {"stats.scope", "范围", "Scope"},
    {"stats.all", "全部", "all"},
    {"stats.none", "（无）", "(none)"},
    {"stats.incidents", "事件数", "Incidents"},
    {"stats.first_release_within", "首次发布权威信息 ≤ {0}", "First release ≤ {0}"},
    {"stats.within", "≤ {0}", "≤ {0}"},
    {"stats.press_within", "新闻发布会 ≤ {0}", "Press conf. ≤ {0}"},
    {"stats.median_first_release", "首次发布用时中位数", "Median to first release"},
    {"stats.p90_first_release", "首次发布用时P90", "P90 to first release"},
    {"stats.median_ack", "确认收到用时中位数", "Median to acknowledge"},
    {"stats.breaches", "超过最迟时限次数", "Milestone breaches"},
    {"stats.median_n", "{0}（n={1}）", "{0} (n={1})"},
    {"stats.ack_share", "{0}（{1}/{2} 人确认）", "{0} ({1}/{2} acknowledged)"},
    {"stats.unit", "单位", "Unit"},
    {"stats.col.first_release", "首次发布权威信息", "First release"},
    {"stats.col.press_conference", "新闻发布会", "Press conference"},
    {"stats.col.follow_up", "持续发布", "Follow-up"},
    {"stats.total", "合计", "Total"},
    {"stats.definitions",
     "未完成的节点计为未按时。首次发布用时只统计首次发布权威信息已完成的事件；确认收到用时从某人"
     "首次收到某事件的通知起，至其此后首次确认收到止。超时指某节点（某一轮）首次超过最迟时限，"
     "计入其提醒所通知到的每个责任单位（见 docs/reports.md）。",
     "Shares count an unmet milestone as not within. Times to first release are over the "
     "incidents whose first release was met; time to acknowledge runs from a person's first "
     "notification about an incident to their first acknowledgement after it. A breach is the "
     "first deadline_breached of a milestone round, counted against each responsible unit its "
     "alert reached (docs/reports.md)."},
    {"csv.stats_header",
     "分区,分组,事件数,首次发布完成数,目标时限内,最迟时限内,新闻发布会按时,首次发布用时中位数_分钟,"
     "首次发布用时P90_分钟,通知人数,确认人数,确认用时中位数_分钟,超时次数,首次发布超时,"
     "新闻发布会超时,持续发布超时",
     "section,group,incidents,first_release_met,within_target,within_deadline,"
     "press_within_deadline,median_first_release_min,p90_first_release_min,notified_people,"
     "acknowledged_people,median_time_to_ack_min,breaches,first_release_breaches,"
     "press_conference_breaches,follow_up_breaches"},
};

const std::unordered_map<std::string_view, const Message*>& catalogue() {
  static const auto* table = [] {
    auto* t = new std::unordered_map<std::string_view, const Message*>();
    for (const auto& m : kMessages) {
      // A duplicate id would make one of the two unreachable: a mistake in this file.
      if (!t->emplace(m.id, &m).second) {
        std::fprintf(stderr, "message catalogue: duplicate id %.*s\n",
                     static_cast<int>(m.id.size()), m.id.data());
        std::abort();
      }
    }
    return t;
  }();
  return *table;
}

}  // namespace

std::optional<Lang> parse_lang(std::string_view name) {
  if (name == "zh") return Lang::zh;
  if (name == "en") return Lang::en;
  return std::nullopt;
}

std::string_view lang_name(Lang lang) {
  return lang == Lang::zh ? "zh" : "en";
}

std::string_view msg(Lang lang, std::string_view id) {
  const auto& table = catalogue();
  const auto it = table.find(id);
  if (it == table.end()) {
    std::fprintf(stderr, "message catalogue: no message %.*s\n", static_cast<int>(id.size()),
                 id.data());
    std::abort();
  }
  return lang == Lang::zh ? it->second->zh : it->second->en;
}

}  // namespace incidentd::report
