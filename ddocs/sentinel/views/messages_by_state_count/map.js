function (doc) {
  // Messages by task state, reduced with _count: the `sentinel_messages` gauge of GET /metrics
  // (query with group=true).
  var lists = ['tasks', 'scheduled_tasks'];
  for (var l = 0; l < lists.length; l++) {
    var tasks = doc[lists[l]];
    if (!tasks || !tasks.length) {
      continue;
    }
    for (var i = 0; i < tasks.length; i++) {
      var task = tasks[i];
      if (task && task.state && task.messages && task.messages.length) {
        emit(String(task.state), task.messages.length);
      }
    }
  }
}
