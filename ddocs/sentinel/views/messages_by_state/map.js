function (doc) {
  // CHT medic/messages_by_state: [state, due ms] for every message of every task
  var emitTasks = function (list, tasks) {
    if (!tasks || !tasks.length) {
      return;
    }
    for (var i = 0; i < tasks.length; i++) {
      var task = tasks[i];
      if (!task) {
        continue;
      }
      var due = task.due || task.timestamp || doc.reported_date;
      var dueMs = typeof due === 'string' ? Date.parse(due) : due;
      var messages = task.messages && task.messages.length ? task.messages : [{}];
      for (var j = 0; j < messages.length; j++) {
        emit([task.state, dueMs], { list: list, task: i, uuid: messages[j].uuid });
      }
    }
  };
  emitTasks('tasks', doc.tasks);
  emitTasks('scheduled_tasks', doc.scheduled_tasks);
}
