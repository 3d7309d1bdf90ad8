function (doc) {
  // Every outgoing message by its uuid (the id a gateway reports delivery states with).
  //   value  {list: "tasks" | "scheduled_tasks", task: <index>, state}
  var lists = ['tasks', 'scheduled_tasks'];
  for (var l = 0; l < lists.length; l++) {
    var tasks = doc[lists[l]];
    if (!tasks || !tasks.length) {
      continue;
    }
    for (var i = 0; i < tasks.length; i++) {
      var task = tasks[i];
      if (!task || !task.messages) {
        continue;
      }
      for (var j = 0; j < task.messages.length; j++) {
        if (task.messages[j] && task.messages[j].uuid) {
          emit(String(task.messages[j].uuid), { list: lists[l], task: i, state: task.state || null });
        }
      }
    }
  }
}
