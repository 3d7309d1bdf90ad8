function (doc) {
  // What `sentinel gateway` hands out (sentinel/outbox.py): every message of a task that is `pending`
  // or `forwarded-to-gateway` (handed out, not acknowledged yet), by [state, due ms, uuid], oldest
  // due first (CHT's messages_by_state key, with the uuid so that every key is unique and a page can
  // start after the last one). Messages without text, recipient or uuid are never handed out.
  //   value  {list: "tasks" | "scheduled_tasks", task: <index>}
  var lists = ['tasks', 'scheduled_tasks'];
  for (var l = 0; l < lists.length; l++) {
    var tasks = doc[lists[l]];
    if (!tasks || !tasks.length) {
      continue;
    }
    for (var i = 0; i < tasks.length; i++) {
      var task = tasks[i];
      if (!task || (task.state !== 'pending' && task.state !== 'forwarded-to-gateway') || !task.messages) {
        continue;
      }
      var due = task.due || task.timestamp || doc.reported_date;
      var dueMs = typeof due === 'string' ? Date.parse(due) : due;
      if (typeof dueMs !== 'number' || !isFinite(dueMs)) {
        dueMs = 0;
      }
      for (var j = 0; j < task.messages.length; j++) {
        var message = task.messages[j];
        if (message && message.uuid && message.to && message.message) {
          emit([task.state, dueMs, String(message.uuid)], { list: lists[l], task: i });
        }
      }
    }
  }
}
