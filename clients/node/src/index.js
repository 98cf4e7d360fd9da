'use strict';
// meshq's Node.js client. See README.md and index.d.ts for the API.

const { MeshqClient, RoomClient } = require('./client');
const { Connection } = require('./connection');
const { RoomsClient } = require('./rooms');
const { QueuesClient } = require('./queues');
const { Subscription } = require('./subscription');
const { StorageClient } = require('./storage');
const { SchedulerClient } = require('./scheduler');
const { ReceivedMessage } = require('./messages');
const { loadPackage } = require('./protos');
const errors = require('./errors');

module.exports = {
  MeshqClient,
  RoomClient,
  Connection,
  RoomsClient,
  QueuesClient,
  Subscription,
  StorageClient,
  SchedulerClient,
  ReceivedMessage,
  loadPackage,
  ...errors,
};
